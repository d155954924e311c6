/**
 * gRPC load worker: GetToken over h2c with connect-node's gRPC transport (one
 * HTTP/2 session, as a backend agent would hold), keeping `concurrency` calls
 * in flight and walking the ids round-robin. Runs in its own process.
 *
 *   node --import tsx bench/load/grpc-load.ts < config.json
 */
import { ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { readConfig, type Recorder, warmUpThenMeasure } from "./worker-io.ts";

/** The worker's stdin. */
export interface GrpcLoadConfig {
  origin: string;
  ids: string[];
  agentKey: string;
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
}

const config = await readConfig<GrpcLoadConfig>();
const client = createClient(GatewayService, createGrpcTransport({ baseUrl: config.origin }));
const headers = { authorization: `Bearer ${config.agentKey}` };
let next = 0;

/** Keeps `concurrency` loops calling until `seconds` have passed. */
async function drive(seconds: number, recorder: Recorder | undefined): Promise<void> {
  const end = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const connectionId = config.ids[next++ % config.ids.length]!;
      const t0 = performance.now();
      try {
        await client.getToken({ connectionId }, { headers, timeoutMs: 10_000 });
        recorder?.ok(performance.now() - t0);
      } catch (error) {
        // A gRPC status is the protocol's non-2xx; anything else is a transport error.
        if (error instanceof ConnectError) recorder?.non2xx(performance.now() - t0, error.message);
        else recorder?.error(String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, loop));
}

await warmUpThenMeasure(drive, config.warmupSeconds, config.seconds);
// The HTTP/2 session would keep the process alive.
process.exit(0);
