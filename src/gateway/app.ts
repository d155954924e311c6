import type { Registry } from "prom-client";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { createErrorInterceptor } from "../shared/connect-errors.ts";
import type { Logger } from "../shared/logger.ts";
import { noRequestScope, type RequestScope } from "../shared/request-scope.ts";
import { observeRequests } from "../shared/server/observe-requests.ts";
import { createRpcMetrics } from "../shared/server/rpc-metrics.ts";
import { noTracing, type Tracing } from "../shared/tracing.ts";
import { createHttpApp, type HttpApp } from "../shared/server/http-app.ts";
import { createInputValidation } from "../shared/server/input-validation.ts";
import { type BrokerTransportFactory, createBrokerClients } from "./broker-clients.ts";
import { createAgentAuth } from "./agent-auth.ts";
import { createBrokerHealth } from "./broker-health.ts";
import { createCachedReadReporter } from "./cached-read-reporter.ts";
import { createCachedTokenReads } from "./cached-token-reads.ts";
import { createTokenAnswerCache } from "./token-answer-cache.ts";
import { createTokenCacheMetrics } from "./token-cache-metrics.ts";
import { startTokenChangeWatch } from "./token-change-watch.ts";
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
  /** Carries each request's id to its log lines and Broker calls. @default none: no request ids in logs */
  readonly requestScope?: RequestScope;
  /** @default tracing off */
  readonly tracing?: Tracing;
  /** Makes request ids. @default crypto.randomUUID */
  readonly randomUUID?: () => string;
  /** The web app's files, served at `/` for paths no RPC or REST route takes; none when absent. */
  readonly site?: ReadonlyMap<string, StaticFile>;
  /** A collision-resistant digest (SHA-256) of an agent's API key: the token cache keys on it, never on the key. */
  readonly digest: (credential: string) => string;
}

/** A built Gateway, not yet listening. */
export interface Gateway {
  readonly app: HttpApp;
  /** After the server has drained: ends the change stream and reports the last cached reads (within `deadlineMs`). */
  close(options?: { deadlineMs?: number }): Promise<void>;
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
  // A repeated GetToken costs one process: answers kept per caller and connection, true to the Broker's change stream.
  const cache = createTokenAnswerCache({ now: deps.now, ttlMs: config.tokenCacheSeconds * 1000, maxEntries: config.tokenCacheMaxEntries });
  const metrics = createTokenCacheMetrics(deps.registry, () => cache.size);
  const reporter = createCachedReadReporter({
    send: async (reads, signal) => void (await broker.tokenCache.recordCachedReads({ reads }, { signal, timeoutMs: 5000 })),
    now: deps.now, logger: deps.logger, dropped: metrics.readsDropped,
  });
  const watch = config.tokenCacheSeconds === 0
    ? { brokerId: undefined, stop: async () => {} }
    : startTokenChangeWatch({ open: (signal) => broker.tokenCache.watchTokenChanges({}, { signal }), cache, logger: deps.logger });
  const tokens = createCachedTokenReads({ broker, cache, watch, reporter, metrics, digest: deps.digest });
  const tracing = deps.tracing ?? noTracing;
  const rpcMetrics = createRpcMetrics(deps.registry, tracing);
  const app = observeRequests(createHttpApp({
    routes: (router) => {
      router.service(GatewayService, createGatewayHandlers(broker, deps.logger, config.publicUrl, { tokens }));
    },
    // The same input rules as the Broker's (the contract names them), so nothing malformed reaches it.
    interceptors: [rpcMetrics.interceptor, createErrorInterceptor(deps.logger), auth, createInputValidation()],
    health: createBrokerHealth(broker, deps.now),
    registry: deps.registry,
    oauthErrorMethods: [`${GatewayService.typeName}/ExchangeToken`],
    corsAllowedOrigins: config.corsAllowedOrigins,
    shutdownSignal: deps.shutdownSignal,
    ...(deps.site === undefined ? {} : { pages: createStaticSite(deps.site) }),
    logger: deps.logger,
  }), { scope: deps.requestScope ?? noRequestScope, tracing, randomUUID: deps.randomUUID ?? (() => crypto.randomUUID()) });
  return {
    app,
    async close(options = {}) {
      await watch.stop();
      await reporter.close(options.deadlineMs ?? 5000);
    },
  };
}
