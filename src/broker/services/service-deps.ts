import type { Logger } from "../../shared/logger.ts";
import type { PatternEngine } from "../domain/credential-schema.ts";
import type { AuditLog, BrokerMetrics, ConnectionStore, ProviderStore, Sealer } from "../domain/ports.ts";
import type { FetchLike } from "../oauth/fetch-with-timeout.ts";
import type { StateSigner } from "../oauth/handshake-state.ts";
import type { IdTokenVerifier } from "../oauth/id-token.ts";
import type { EndpointResolver } from "./provider-endpoints.ts";

/** Settings the use cases read, taken from the Broker's configuration. */
export interface ServiceSettings {
  /** `BASE_URL/auth/callback`. */
  readonly redirectUri: string;
  /** `BASE_URL/auth/capture`: the page that collects static credentials. */
  readonly capturePageUrl: string;
  readonly allowedReturnDomains: readonly string[];
  readonly refreshMarginSeconds: number;
  /** A refresh is never due sooner than this after the last one. */
  readonly minRefreshIntervalSeconds: number;
  /** Accept http provider URLs on loopback hosts (development and tests only). */
  readonly allowHttpLoopback: boolean;
  /** Deadline of one call to a provider; shorter than the refresh lease. */
  readonly providerTimeoutMs: number;
  /** This process's name on refresh leases. */
  readonly instanceId: string;
  /** How long a refresh lease lasts. */
  readonly refreshLeaseSeconds: number;
  /** First retry delay after a transient refresh failure; doubles each time. */
  readonly refreshBackoffSeconds: number;
  /** Days of transient failures before a connection needs attention. */
  readonly refreshGiveUpDays: number;
}

/** Everything the Broker's use cases depend on, as interfaces. */
export interface ServiceDeps {
  readonly providers: ProviderStore;
  readonly connections: ConnectionStore;
  readonly audit: AuditLog;
  readonly sealer: Sealer;
  readonly endpoints: EndpointResolver;
  readonly states: StateSigner;
  readonly idTokens: IdTokenVerifier;
  /** Runs credential_schema patterns in linear time. */
  readonly patterns: PatternEngine;
  readonly metrics: BrokerMetrics;
  readonly fetch: FetchLike;
  readonly now: () => number;
  readonly randomUUID: () => string;
  /** Uniform in [0, 1): jitter. */
  readonly random: () => number;
  readonly logger: Logger;
  readonly settings: ServiceSettings;
}
