import type { Registry } from "prom-client";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { createErrorInterceptor } from "../shared/connect-errors.ts";
import type { Logger } from "../shared/logger.ts";
import { createHttpApp, type HttpApp } from "../shared/server/http-app.ts";
import { createInputValidation } from "../shared/server/input-validation.ts";
import { type BrokerTransportFactory, createBrokerClients } from "./broker-clients.ts";
import { createAgentAuth } from "./agent-auth.ts";
import { createBrokerHealth } from "./broker-health.ts";
import type { GatewayConfig } from "./config.ts";
import { createGatewayHandlers } from "./handlers/gateway-handlers.ts";
import { createStaticSite, type StaticFile } from "./static-site.ts";

/** What the Gateway needs from its runtime. */
export interface GatewayDeps {
  /** Builds the transport to the Broker with the interceptors the Gateway needs. */
  readonly brokerTransport: BrokerTransportFactory;
  readonly now: () => number;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly shutdownSignal: AbortSignal;
  /** The web app's files, served at `/` for paths no RPC or REST route takes; none when absent. */
  readonly site?: ReadonlyMap<string, StaticFile>;
}

/** A built Gateway, not yet listening. */
export interface Gateway {
  readonly app: HttpApp;
  close(): Promise<void>;
}

/** Procedures that need no agent key: browser-safe calls, health and reflection. */
export const gatewayPublicProcedures = [
  "/grpc.health.v1.Health/",
  "/grpc.reflection.v1.ServerReflection/",
  "/grpc.reflection.v1alpha.ServerReflection/",
  `/${GatewayService.typeName}/ListProviders`,
  `/${GatewayService.typeName}/GetCaptureSchema`,
  `/${GatewayService.typeName}/CaptureCredential`,
  `/${GatewayService.typeName}/GetJwks`,
  `/${GatewayService.typeName}/GetAuthorizationServerMetadata`,
];

/** The Gateway's composition root. It holds no database, no vault key and no refresh token. */
export async function buildGateway(config: GatewayConfig, deps: GatewayDeps): Promise<Gateway> {
  const broker = createBrokerClients(deps.brokerTransport, config.brokerApiKey);
  const auth = await createAgentAuth({ unscopedKeys: config.agentApiKeys, publicProcedures: gatewayPublicProcedures });
  if (config.agentApiKeys.length > 0) {
    deps.logger.warn("AGENT_API_KEYS are unscoped keys: each may use every connection of every agent; register agents (POST /agents on the Broker) and remove them", { unscoped_keys: config.agentApiKeys.length });
  }
  const app = createHttpApp({
    routes: (router) => {
      router.service(GatewayService, createGatewayHandlers(broker, deps.logger, config.publicUrl));
    },
    // The same input rules as the Broker's (the contract names them), so nothing malformed reaches it.
    interceptors: [createErrorInterceptor(deps.logger), auth, createInputValidation()],
    health: createBrokerHealth(broker, deps.now),
    registry: deps.registry,
    oauthErrorMethods: [`${GatewayService.typeName}/ExchangeToken`],
    corsAllowedOrigins: config.corsAllowedOrigins,
    shutdownSignal: deps.shutdownSignal,
    ...(deps.site === undefined ? {} : { pages: createStaticSite(deps.site) }),
    logger: deps.logger,
  });
  return { app, async close() {} };
}
