import { createConfigReader, type Env, keyHint } from "../shared/config-reader.ts";
import type { LogLevel } from "../shared/logger.ts";
import { readListenHost } from "../shared/listen-host.ts";
import { readServerLimits, type ServerLimits } from "../shared/server-limits.ts";

/** The Broker's configuration, decoded and validated. */
export interface BrokerConfig {
  readonly port: number;
  /** The address BROKER_PORT is bound on. */
  readonly host: string;
  readonly databaseUrl: string;
  /** Vault keys by key id, and the id new ciphertexts are sealed with. */
  readonly encryptionKeys: ReadonlyMap<string, Uint8Array>;
  readonly activeKeyId: string;
  /** HMAC key of handshake states. */
  readonly stateKey: Uint8Array;
  /** Keys the Gateway and operators present. */
  readonly apiKeys: readonly string[];
  /** The Broker's public URL, without a trailing slash. */
  readonly baseUrl: URL;
  /** `BASE_URL + /auth/callback`: the OAuth redirect URI to register at providers. */
  readonly redirectUri: string;
  /** Hosts a return URL may point at; `*.example.com` matches subdomains. */
  readonly allowedReturnDomains: readonly string[];
  readonly refreshMarginSeconds: number;
  readonly refreshConcurrency: number;
  readonly refreshGiveUpDays: number;
  /** How long a refresh lease lasts; provider calls get half of it. */
  readonly refreshLeaseSeconds: number;
  /** First retry delay after a transient refresh failure. */
  readonly refreshBackoffSeconds: number;
  /** Shortest time between two refreshes of one connection (a token living 0 s must not loop). */
  readonly refreshMinIntervalSeconds: number;
  /** Longest life of a session, in seconds. */
  readonly sessionMaxTtlSeconds: number;
  /** Days a session signing key signs before a new one replaces it. */
  readonly sessionKeyRotationDays: number;
  /** Days expired and revoked sessions are kept before housekeeping deletes them. */
  readonly sessionRetentionDays: number;
  /** How long a graceful stop may wait for refreshes on the wire and the audit log. */
  readonly shutdownDrainSeconds: number;
  readonly auditRetentionDays: number;
  /** Most audit events a Broker holds in memory while the database is unavailable; more are dropped and counted. */
  readonly auditQueueMaxEvents: number;
  /** Longest life of a token cache entry, in seconds; 0 turns the cache off. */
  readonly tokenCacheSeconds: number;
  /** Most credentials the token cache holds. */
  readonly tokenCacheMaxEntries: number;
  /** Accept http:// provider URLs on loopback hosts. Development and tests only. */
  readonly allowHttpLoopbackProviders: boolean;
  /** GET /metrics on the main port asks for an API key (X-API-Key or Bearer), as the admin API does. */
  readonly metricsRequireApiKey: boolean;
  /** When not 0, metrics are served only on this port of 127.0.0.1 (no key), and not on the main port. */
  readonly metricsPort: number;
  /** Timeouts and caps on client connections (SERVER_*, HTTP2_*). */
  readonly serverLimits: ServerLimits;
  readonly logLevel: LogLevel;
}

/** The key id given to a lone ENCRYPTION_KEY. Name it in ENCRYPTION_KEYS when rotating. */
export const defaultKeyId = "primary";

const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Reads the Broker's configuration from `env`, reporting every problem at
 * once (a ConfigError) with how to fix it.
 */
export function loadBrokerConfig(env: Env): BrokerConfig {
  const r = createConfigReader(env);
  const port = r.port("BROKER_PORT", 8080);
  const host = readListenHost(r, "BROKER_HOST");
  const databaseUrl = r.string("DATABASE_URL", {
    required: "Set it to a PostgreSQL URL such as postgres://user:password@localhost:5432/nexus.",
  });
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    r.problem("DATABASE_URL must start with postgres:// or postgresql://.");
  }

  const encryptionKeys = new Map<string, Uint8Array>();
  let activeKeyId = defaultKeyId;
  const single = r.string("ENCRYPTION_KEY");
  const ring = r.list("ENCRYPTION_KEYS");
  if (single !== undefined && ring.length > 0) {
    r.problem("Set ENCRYPTION_KEY or ENCRYPTION_KEYS, not both.");
  } else if (ring.length > 0) {
    for (const entry of ring) {
      const at = entry.indexOf(":");
      const kid = at < 0 ? "" : entry.slice(0, at);
      if (!keyIdPattern.test(kid)) {
        r.problem(`ENCRYPTION_KEYS entries must look like kid:base64key with kid of letters, digits, - or _; got an entry named "${kid}".`);
        continue;
      }
      if (encryptionKeys.has(kid)) r.problem(`ENCRYPTION_KEYS names key "${kid}" twice.`);
      const key = r.key32(`ENCRYPTION_KEYS key "${kid}"`, entry.slice(at + 1), true);
      if (key !== undefined) encryptionKeys.set(kid, key);
    }
    const active = r.string("ENCRYPTION_ACTIVE_KEY");
    if (active !== undefined) activeKeyId = active;
    else if (ring.length === 1) activeKeyId = ring[0]!.split(":")[0]!;
    else r.problem("ENCRYPTION_ACTIVE_KEY is not set. With several ENCRYPTION_KEYS, name the one new secrets are sealed with.");
    if (active !== undefined && !ring.some((e) => e.startsWith(`${active}:`))) {
      r.problem(`ENCRYPTION_ACTIVE_KEY names "${active}", which is not in ENCRYPTION_KEYS.`);
    }
  } else {
    const key = r.key32("ENCRYPTION_KEY", single, true);
    if (key !== undefined) encryptionKeys.set(defaultKeyId, key);
  }

  const stateKey = r.key32("STATE_KEY", env.STATE_KEY, true);
  const apiKeys = [...r.list("API_KEYS"), ...r.list("API_KEY")];
  if (apiKeys.length === 0) {
    r.problem(`API_KEY is not set. The Gateway and operators present it in X-API-Key. ${keyHint}`);
  }
  for (const k of apiKeys) {
    if (k.length < 16) r.problem("API_KEY values must be at least 16 characters; use a random key.");
  }
  const baseUrl = r.url("BASE_URL", {
    required: "Set it to the Broker's public URL, such as https://nexus.example.com; the OAuth redirect URI is BASE_URL/auth/callback.",
  });
  const allowedReturnDomains = r.list("ALLOWED_RETURN_DOMAINS").map((d) => d.toLowerCase());
  if (allowedReturnDomains.length === 0) {
    r.problem("ALLOWED_RETURN_DOMAINS is not set. List the hosts return URLs may point at, such as app.example.com,*.example.com.");
  }
  for (const d of allowedReturnDomains) {
    if (!/^(\*\.)?[a-z0-9.-]+$/.test(d) || d.includes("..")) {
      r.problem(`ALLOWED_RETURN_DOMAINS entry "${d}" must be a host name such as app.example.com or *.example.com.`);
    }
  }
  const metricsPort = r.port("METRICS_PORT", 0);
  if (metricsPort !== 0 && metricsPort === port) r.problem("METRICS_PORT must differ from BROKER_PORT (or be 0 to serve metrics on BROKER_PORT).");
  const config = {
    port,
    host,
    databaseUrl: databaseUrl ?? "",
    encryptionKeys,
    activeKeyId,
    stateKey: stateKey ?? new Uint8Array(),
    apiKeys,
    baseUrl: baseUrl ?? new URL("http://invalid"),
    redirectUri: `${baseUrl?.href.replace(/\/$/, "") ?? ""}/auth/callback`,
    allowedReturnDomains,
    refreshMarginSeconds: r.integer("REFRESH_MARGIN_SECONDS", { default: 300, min: 1, max: 86_400 }),
    refreshConcurrency: r.integer("REFRESH_CONCURRENCY", { default: 8, min: 1, max: 1024 }),
    refreshGiveUpDays: r.integer("REFRESH_GIVE_UP_DAYS", { default: 4, min: 1, max: 365 }),
    refreshLeaseSeconds: r.integer("REFRESH_LEASE_SECONDS", { default: 60, min: 2, max: 3600 }),
    refreshBackoffSeconds: r.integer("REFRESH_BACKOFF_SECONDS", { default: 10, min: 1, max: 3600 }),
    refreshMinIntervalSeconds: r.integer("REFRESH_MIN_INTERVAL_SECONDS", { default: 30, min: 1, max: 3600 }),
    shutdownDrainSeconds: r.integer("SHUTDOWN_DRAIN_SECONDS", { default: 30, min: 1, max: 3600 }),
    sessionMaxTtlSeconds: r.integer("SESSION_MAX_TTL_SECONDS", { default: 86_400, min: 60, max: 30 * 86_400 }),
    sessionKeyRotationDays: r.integer("SESSION_KEY_ROTATION_DAYS", { default: 30, min: 1, max: 365 }),
    sessionRetentionDays: r.integer("SESSION_RETENTION_DAYS", { default: 30, min: 1, max: 3650 }),
    auditRetentionDays: r.integer("AUDIT_RETENTION_DAYS", { default: 90, min: 1, max: 36_500 }),
    // At least one write batch (1000 rows). A typical event takes well under 1 KB of memory.
    auditQueueMaxEvents: r.integer("AUDIT_QUEUE_MAX_EVENTS", { default: 100_000, min: 1000, max: 10_000_000 }),
    tokenCacheSeconds: r.integer("TOKEN_CACHE_SECONDS", { default: 10, min: 0, max: 300 }),
    tokenCacheMaxEntries: r.integer("TOKEN_CACHE_MAX_ENTRIES", { default: 20_000, min: 1, max: 10_000_000 }),
    allowHttpLoopbackProviders: r.boolean("ALLOW_HTTP_LOOPBACK_PROVIDERS", false),
    metricsRequireApiKey: r.boolean("METRICS_REQUIRE_API_KEY", false),
    metricsPort,
    serverLimits: readServerLimits(r),
    logLevel: r.logLevel(),
  } satisfies BrokerConfig;
  r.finish();
  return Object.freeze(config);
}
