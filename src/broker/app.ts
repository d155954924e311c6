import type { Registry } from "prom-client";
import { AgentService } from "../../gen/nexus/broker/v1/agent_service_pb.ts";
import { AuditService } from "../../gen/nexus/broker/v1/audit_service_pb.ts";
import { AuthorizationService } from "../../gen/nexus/broker/v1/authorization_service_pb.ts";
import { ConnectionService } from "../../gen/nexus/broker/v1/connection_service_pb.ts";
import { ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { SessionService } from "../../gen/nexus/broker/v1/session_service_pb.ts";
import { StatusService } from "../../gen/nexus/broker/v1/status_service_pb.ts";
import { TokenCacheService } from "../../gen/nexus/broker/v1/token_cache_service_pb.ts";
import { createErrorInterceptor } from "../shared/connect-errors.ts";
import type { Logger } from "../shared/logger.ts";
import { noRequestScope, type RequestScope } from "../shared/request-scope.ts";
import { observeRequests } from "../shared/server/observe-requests.ts";
import { createRpcMetrics } from "../shared/server/rpc-metrics.ts";
import { noTracing, type Tracing } from "../shared/tracing.ts";
import { createApiKeyAuth, createApiKeyVerifier } from "../shared/server/api-key-auth.ts";
import { createHttpApp, type HttpApp } from "../shared/server/http-app.ts";
import { createInputValidation } from "../shared/server/input-validation.ts";
import type { BrokerConfig } from "./config.ts";
import type { Sql } from "./db/sql.ts";
import { createAgentHandlers } from "./handlers/agent-handlers.ts";
import { createAuditHandlers } from "./handlers/audit-handlers.ts";
import { createAgentAuth } from "./handlers/caller.ts";
import { createAuthorizationHandlers } from "./handlers/authorization-handlers.ts";
import { createConnectionHandlers } from "./handlers/connection-handlers.ts";
import { createProviderHandlers } from "./handlers/provider-handlers.ts";
import { createSessionHandlers } from "./handlers/session-handlers.ts";
import { createStatusHandlers } from "./handlers/status-handlers.ts";
import { createTokenCacheHandlers } from "./handlers/token-cache-handlers.ts";
import { createAuditMetrics } from "./metrics/audit-metrics.ts";
import { createBrokerMetrics } from "./metrics/broker-metrics.ts";
import { createDiscovery } from "./oauth/discovery.ts";
import { startHousekeeping } from "./refresh/housekeeping.ts";
import { startRefreshLoop } from "./refresh/refresh-loop.ts";
import type { FetchLike } from "./oauth/fetch-with-timeout.ts";
import { createOutboundFetch } from "./oauth/outbound-fetch.ts";
import { createStateSigner } from "./oauth/handshake-state.ts";
import { createIdTokenVerifier } from "./oauth/id-token.ts";
import { createAgentRepository, createAssertionLedger } from "./repositories/agent-repository.ts";
import { createAuditRepository } from "./repositories/audit-repository.ts";
import { createConnectionRepository } from "./repositories/connection-repository.ts";
import { createCredentialChangeFeed } from "./repositories/credential-change-feed.ts";
import { createDatabaseHealth } from "./repositories/database-health.ts";
import { createHousekeepingRepository } from "./repositories/housekeeping-repository.ts";
import { instrument } from "./repositories/instrument.ts";
import { createRefreshQueueRepository } from "./repositories/refresh-queue-repository.ts";
import { createProviderRepository } from "./repositories/provider-repository.ts";
import { createSessionRepository, createSigningKeyRepository } from "./repositories/session-repository.ts";
import { createStatusRepository } from "./repositories/status-repository.ts";
import { createSealedValueRepository } from "./repositories/sealed-value-repository.ts";
import { createVaultKeyCheckRepository } from "./repositories/vault-key-check-repository.ts";
import { createAgentAuthenticator } from "./services/agent-authenticator.ts";
import { createAgentCache } from "./services/agent-cache.ts";
import { createAgentService } from "./services/agent-service.ts";
import { createAuditService } from "./services/audit-service.ts";
import { cacheInvalidatingConnections, cacheInvalidatingProviders } from "./services/cache-invalidating-stores.ts";
import { createCallbackService } from "./services/callback-service.ts";
import { createCaptureService } from "./services/capture-service.ts";
import { createConnectionService } from "./services/connection-service.ts";
import { createCredentialPatterns } from "./services/credential-patterns.ts";
import { createCredentialCache } from "./services/credential-cache.ts";
import { startCredentialCacheSync } from "./services/credential-cache-sync.ts";
import { createHandshakeService } from "./services/handshake-service.ts";
import { verifyKeyChecks } from "./services/key-check-service.ts";
import { assertKeysLoaded } from "./services/key-rotation-service.ts";
import { createEndpointResolver } from "./services/provider-endpoints.ts";
import { createProviderService } from "./services/provider-service.ts";
import { createReadCoalescer } from "./services/read-coalescer.ts";
import { loadTemplateCatalogue } from "./templates/template-catalogue.ts";
import { templateFiles } from "./templates/template-files.ts";
import { createRefreshService } from "./services/refresh-service.ts";
import { createSessionKeys } from "./services/session-keys.ts";
import { createSessionService } from "./services/session-service.ts";
import { createStatusService } from "./services/status-service.ts";
import { createTokenChangeHub } from "./services/token-change-hub.ts";
import { createTokenExchangeService } from "./services/token-exchange-service.ts";
import { createTokenService } from "./services/token-service.ts";
import type { Vault } from "./vault/vault.ts";

/** What the Broker needs from its runtime; tests pass their own. */
export interface BrokerDeps {
  readonly sql: Sql;
  readonly vault: Vault;
  /**
   * Every request to a provider. The Broker checks each URL with the
   * outbound-URL policy before calling it; the Node runtime's fetch also
   * checks every address DNS answers (runtime/node/guarded-fetch.ts).
   */
  readonly fetch: FetchLike;
  readonly now: () => number;
  readonly randomUUID: () => string;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Aborted when the process shuts down. */
  readonly shutdownSignal: AbortSignal;
  /** Uniform in [0, 1): jitter. @default Math.random */
  readonly random?: () => number;
  /** This process's name on refresh leases. @default broker-<random> */
  readonly instanceId?: string;
  /** How often housekeeping sweeps and the connection gauge is updated. @default 30000 */
  readonly housekeepingIntervalMs?: number;
  /** Carries each request's id to its log lines. @default none: no request ids in logs */
  readonly requestScope?: RequestScope;
  /** Spans around requests and queries. @default tracing off */
  readonly tracing?: Tracing;
  /** Versions of the migrations this build carries, for the status (`nexus doctor`). */
  readonly migrationsKnown?: readonly string[];
}

/** A built Broker, not yet listening. */
export interface Broker {
  readonly app: HttpApp;
  /** Makes the refresh loop look at the queue now. */
  wakeRefreshLoop(): void;
  /** Runs one housekeeping sweep now. */
  runHousekeeping(): Promise<void>;
  /**
   * A graceful stop: stops claiming refreshes and housekeeping at once, waits
   * for refreshes already on the wire to write their outcome and for
   * `whenServed` (the server's own drain), then flushes the audit log; all
   * within `deadlineMs`. The runtime closes the server and the pool.
   */
  close(options?: { deadlineMs?: number; whenServed?: Promise<void> }): Promise<void>;
}

/** Procedures anyone may call: health, reflection, and the browser end of handshakes. */
export const brokerPublicProcedures = [
  "/grpc.health.v1.Health/",
  "/grpc.reflection.v1.ServerReflection/",
  "/grpc.reflection.v1alpha.ServerReflection/",
  `/${AuthorizationService.typeName}/`,
];


/** The Broker's composition root: the one place that wires every layer. */
export async function buildBroker(config: BrokerConfig, deps: BrokerDeps): Promise<Broker> {
  const sealed = createSealedValueRepository(deps.sql);
  await assertKeysLoaded(sealed, [...config.encryptionKeys.keys()]);
  await verifyKeyChecks({ checks: createVaultKeyCheckRepository(deps.sql), sealed, vault: deps.vault });
  const metrics = createBrokerMetrics(deps.registry);
  const tracing = deps.tracing ?? noTracing;
  const timed = <T extends object>(repo: string, target: T) => instrument(repo, target, metrics.dbOperation, undefined, tracing);
  const random = deps.random ?? Math.random;
  const audit = createAuditService({
    store: timed("audit", createAuditRepository(deps.sql)),
    now: deps.now,
    logger: deps.logger,
    metrics: createAuditMetrics(deps.registry),
    maxQueuedEvents: config.auditQueueMaxEvents,
    random,
  });
  const instanceId = deps.instanceId ?? `broker-${deps.randomUUID().slice(0, 8)}`;
  const allowHttpLoopback = config.allowHttpLoopbackProviders;
  // Every provider request below goes through the outbound-URL policy first (security.md "Outbound requests").
  const fetch = createOutboundFetch(deps.fetch, { allowLoopback: allowHttpLoopback });
  const discovery = createDiscovery({ fetch, now: deps.now, allowInsecureLoopback: allowHttpLoopback });
  const base = config.baseUrl.href.replace(/\/$/, "");
  // Agents are read on every agent call; kept in memory, dropped at once by any Broker's change (the feed below).
  const agentCache = createAgentCache({ now: deps.now, ttlMs: 60_000, maxEntries: 10_000 });
  // Whatever drops an answer from these caches also reaches the Gateways watching (their own caches).
  const changes = createTokenChangeHub();
  const caches = changes.watching({
    tokens: createCredentialCache({ now: deps.now, ttlMs: config.tokenCacheSeconds * 1000, maxEntries: config.tokenCacheMaxEntries }),
    agents: agentCache,
  });
  const tokenCache = caches.tokens;
  // Successful reads are audited as one event per connection and caller per second, with a count.
  const reads = createReadCoalescer({ audit, now: deps.now });
  const providers = cacheInvalidatingProviders(timed("providers", createProviderRepository(deps.sql)), tokenCache);
  const connections = cacheInvalidatingConnections(timed("connections", createConnectionRepository(deps.sql)), tokenCache);
  const endpoints = createEndpointResolver(discovery, allowHttpLoopback);
  const states = createStateSigner(config.stateKey, deps.now);
  const idTokens = createIdTokenVerifier({ fetch, now: deps.now });
  const patterns = createCredentialPatterns();
  // Checked here, so a broken template stops the Broker at start rather than at a registration.
  const templates = loadTemplateCatalogue(templateFiles);
  // A provider call always ends well inside the lease, so a lease never lapses under a live refresh.
  const providerTimeoutMs = Math.min(15_000, (config.refreshLeaseSeconds * 1000) / 2);
  const refreshTiming = { refreshMarginSeconds: config.refreshMarginSeconds, minRefreshIntervalSeconds: config.refreshMinIntervalSeconds };
  const refresher = createRefreshService({
    connections,
    providers,
    endpoints,
    sealer: deps.vault,
    fetch,
    audit,
    metrics,
    logger: deps.logger,
    now: deps.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random,
    randomUUID: deps.randomUUID,
    settings: {
      instanceId,
      leaseSeconds: config.refreshLeaseSeconds,
      providerTimeoutMs,
      backoffSeconds: config.refreshBackoffSeconds,
      giveUpDays: config.refreshGiveUpDays,
      marginSeconds: config.refreshMarginSeconds,
      minIntervalSeconds: config.refreshMinIntervalSeconds,
    },
  });
  const captures = createCaptureService({
    states, connections, providers, patterns, sealer: deps.vault, fetch, audit, metrics,
    settings: { allowHttpLoopback, providerTimeoutMs, ...refreshTiming },
  });
  const agentStore = timed("agents", createAgentRepository(deps.sql));
  // Exchanges check every agent up a session's chain: through the cache the change feed keeps true.
  const cachedAgents = {
    async get(id: string) {
      const hit = agentCache.get(id);
      if (hit !== undefined) return hit;
      const ticket = agentCache.ticket();
      const agent = await agentStore.get(id);
      if (agent !== undefined) agentCache.set(ticket, agent);
      return agent;
    },
  };
  const agentAuth = createAgentAuth(createAgentAuthenticator({
    agents: agentStore, ledger: timed("assertions", createAssertionLedger(deps.sql)), cache: agentCache, now: deps.now,
  }));
  const auth = await createApiKeyAuth({ keys: config.apiKeys, role: "key", publicProcedures: brokerPublicProcedures });
  // The browser routes answer pages of their own and store no request text.
  const inputValidation = createInputValidation({ exemptProcedures: [`/${AuthorizationService.typeName}/`] });
  const tokens = createTokenService({
    connections, providers, sealer: deps.vault, refresher, audit: reads.log, metrics, now: deps.now,
    ...(config.tokenCacheSeconds > 0 ? { cache: tokenCache } : {}),
  });
  const signingKeys = timed("session_keys", createSigningKeyRepository(deps.sql));
  const sessionKeys = createSessionKeys({
    store: signingKeys, sealer: deps.vault, now: deps.now,
    rotationSeconds: config.sessionKeyRotationDays * 86_400, maxLifetimeSeconds: config.sessionMaxTtlSeconds,
  });
  const sessionStore = timed("sessions", createSessionRepository(deps.sql));
  const sessionHandlers = createSessionHandlers({
    sessions: createSessionService({
      sessions: sessionStore, connections, agents: agentStore, keys: sessionKeys, audit, metrics,
      now: deps.now, randomUUID: deps.randomUUID, settings: { maxTtlSeconds: config.sessionMaxTtlSeconds },
    }),
    exchange: createTokenExchangeService({
      sessions: sessionStore, connections, providers, agents: cachedAgents, keys: sessionKeys, tokens, refresher,
      audit, metrics, now: deps.now,
    }),
    keys: sessionKeys,
  });
  const rpcMetrics = createRpcMetrics(deps.registry, tracing);
  const app = observeRequests(createHttpApp({
    routes: (router) => {
      router.service(ProviderService, createProviderHandlers(createProviderService({
        providers, connections, endpoints, sealer: deps.vault, patterns, audit, templates, randomUUID: deps.randomUUID,
        settings: { allowHttpLoopback },
      }), { redirectUri: config.redirectUri }));
      router.service(ConnectionService, createConnectionHandlers({
        handshakes: createHandshakeService({
          providers, connections, states, endpoints, sealer: deps.vault, audit, now: deps.now, randomUUID: deps.randomUUID,
          settings: { redirectUri: config.redirectUri, capturePageUrl: `${base}/auth/capture`, allowedReturnDomains: config.allowedReturnDomains },
        }),
        tokens,
        connections: createConnectionService({
          connections, providers, endpoints, sealer: deps.vault, fetch, audit, logger: deps.logger, settings: { providerTimeoutMs },
        }),
        captures,
        cacheHints: { brokerId: instanceId, now: deps.now },
      }));
      router.service(TokenCacheService, createTokenCacheHandlers({ hub: changes, reads, metrics, brokerId: instanceId }));
      router.service(SessionService, sessionHandlers);
      router.service(StatusService, createStatusHandlers(createStatusService({
        store: timed("status", createStatusRepository(deps.sql)), sealed: createSealedValueRepository(deps.sql), keys: deps.vault,
        migrationsKnown: deps.migrationsKnown ?? [], instanceId, now: deps.now,
      })));
      // Read your writes: a disabled or rotated agent is refused by this Broker (and its Gateways) before the call returns.
      router.service(AgentService, createAgentHandlers(createAgentService({ agents: agentStore, audit, randomUUID: deps.randomUUID, cache: caches.agents })));
      // Read your writes: reads counted a moment ago are part of the answer.
      router.service(AuditService, createAuditHandlers({ ...audit, list: (query) => (reads.flush(), audit.list(query)) }));
      router.service(AuthorizationService, createAuthorizationHandlers({
        callbacks: createCallbackService({
          states, connections, providers, endpoints, idTokens, sealer: deps.vault, fetch, audit, now: deps.now,
          settings: { providerTimeoutMs, ...refreshTiming },
        }),
        captures, logger: deps.logger, captureAction: "/auth/capture",
      }));
    },
    interceptors: [rpcMetrics.interceptor, createErrorInterceptor(deps.logger), auth, agentAuth, inputValidation],
    health: createDatabaseHealth(deps.sql, deps.now),
    registry: deps.registry,
    oauthErrorMethods: [`${SessionService.typeName}/ExchangeToken`],
    // /auth must stay public, so /metrics on the same port is protected on its own.
    metricsAccess: config.metricsPort !== 0
      ? "none"
      : config.metricsRequireApiKey ? await createApiKeyVerifier({ keys: config.apiKeys, role: "key" }) : "public",
    shutdownSignal: deps.shutdownSignal,
    logger: deps.logger,
  }), { scope: deps.requestScope ?? noRequestScope, tracing, randomUUID: deps.randomUUID });
  const loop = startRefreshLoop({
    queue: timed("refresh_queue", createRefreshQueueRepository(deps.sql)),
    refresher,
    logger: deps.logger,
    random,
    randomUUID: deps.randomUUID,
    owner: instanceId,
    concurrency: config.refreshConcurrency,
    leaseSeconds: config.refreshLeaseSeconds,
  });
  const housekeeping = startHousekeeping({
    store: timed("housekeeping", createHousekeepingRepository(deps.sql)),
    audit,
    metrics,
    logger: deps.logger,
    now: deps.now,
    auditRetentionDays: config.auditRetentionDays,
    prunes: {
      "expired and revoked sessions": () => sessionStore.pruneBefore(new Date(deps.now() - config.sessionRetentionDays * 86_400_000)),
      "retired session signing keys": () => signingKeys.pruneRetired(config.sessionMaxTtlSeconds + 3600),
    },
    ...(deps.housekeepingIntervalMs === undefined ? {} : { intervalMs: deps.housekeepingIntervalMs }),
  });
  void housekeeping.runOnce();
  // Runs whether or not the token cache is on: the agent cache needs it too.
  const cacheSync = startCredentialCacheSync({ feed: createCredentialChangeFeed(deps.sql), cache: tokenCache, agents: caches.agents, logger: deps.logger, instanceId });
  return {
    app,
    wakeRefreshLoop: loop.wake,
    runHousekeeping: housekeeping.runOnce,
    async close(options = {}) {
      const deadline = deps.now() + (options.deadlineMs ?? config.shutdownDrainSeconds * 1000);
      const left = () => Math.max(0, deadline - deps.now());
      // Change streams never end by themselves: ending them now lets the server's drain finish.
      changes.close();
      await Promise.all([loop.stop(), housekeeping.stop()]);
      await refresher.drain(left());
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([options.whenServed ?? Promise.resolve(), new Promise((resolve) => (timer = setTimeout(resolve, left())))]);
      clearTimeout(timer);
      // Reads counted so far (a Gateway's last report included) become their events now.
      reads.close();
      // The audit log always gets a last chance to flush, even when the refreshes used up the drain.
      await audit.close({ deadlineMs: Math.max(left(), 2000) });
      await cacheSync.stop();
    },
  };
}
