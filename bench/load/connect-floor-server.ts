/**
 * The framework floor: a connect-node server on node:http with no interceptors,
 * no database and no second hop, answering GatewayService.GetToken with the
 * message the Gateway answered once. What it costs per request is what
 * Connect itself costs on this machine, before Nexus adds anything.
 *
 *   BENCH_BODY='<Connect JSON of a GetTokenResponse>' node --import tsx bench/load/connect-floor-server.ts <port>
 */
import { createServer } from "node:http";
import { fromJsonString } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { GetTokenResponseSchema } from "../../gen/nexus/common/v1/token_pb.ts";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { listenOnArgv } from "./listen-on-argv.ts";

const answer = fromJsonString(GetTokenResponseSchema, process.env.BENCH_BODY ?? "{}");
const handler = connectNodeAdapter({
  routes(router) {
    router.rpc(GatewayService.method.getToken, async () => answer);
  },
});
const server = createServer(handler);
listenOnArgv(server);
