import { createConfigReader, type Env } from "../shared/config-reader.ts";
import type { LogLevel } from "../shared/logger.ts";
import { readListenHost } from "../shared/listen-host.ts";
import { readServerLimits, type ServerLimits } from "../shared/server-limits.ts";

/** The Gateway's configuration, decoded and validated. It holds no vault key and no database. */
export interface GatewayConfig {
  readonly port: number;
  /** The address GATEWAY_PORT is bound on. */
  readonly host: string;
  /** Where the Broker listens, without a trailing slash. */
  readonly brokerUrl: URL;
  /** The key the Gateway presents to the Broker. */
  readonly brokerApiKey: string;
  /** Unscoped keys (AGENT_API_KEYS): each may use every connection. Registered agents are the scoped way. */
  readonly agentApiKeys: readonly string[];
  /** The Gateway's public URL: the audience of agent assertions and the issuer of session tokens. */
  readonly publicUrl: string;
  /** Browser origins allowed to call the Gateway; `https://*.example.com` matches subdomains. */
  readonly corsAllowedOrigins: readonly string[];
  /** Timeouts and caps on client connections (SERVER_*, HTTP2_*). */
  readonly serverLimits: ServerLimits;
  readonly logLevel: LogLevel;
  /** A folder of static files (the built web app) to serve at `/`; none when unset. */
  readonly webAppDir: string | undefined;
  /** Longest an answer to GetToken is kept in the Gateway's cache (GATEWAY_TOKEN_CACHE_SECONDS); 0 turns the cache off. */
  readonly tokenCacheSeconds: number;
  /** Most answers kept (GATEWAY_TOKEN_CACHE_MAX_ENTRIES); the oldest go first. */
  readonly tokenCacheMaxEntries: number;
}

const originPattern = /^https?:\/\/(\*\.)?[a-z0-9.-]+(:\d{1,5})?$/;

/**
 * Reads the Gateway's configuration from `env`, reporting every problem at
 * once (a ConfigError) with how to fix it.
 */
export function loadGatewayConfig(env: Env): GatewayConfig {
  const r = createConfigReader(env);
  const port = r.port("GATEWAY_PORT", 8090);
  const host = readListenHost(r, "GATEWAY_HOST");
  const brokerUrl = r.url("BROKER_URL", { default: "http://127.0.0.1:8080" });
  const brokerApiKey = r.string("BROKER_API_KEY", {
    required: "Set it to one of the Broker's API_KEY values.",
  });
  // Optional: registered agents (POST /agents on the Broker) need no Gateway configuration.
  const agentApiKeys = r.list("AGENT_API_KEYS");
  for (const k of agentApiKeys) {
    if (k.length < 16) r.problem("AGENT_API_KEYS values must be at least 16 characters; use random keys.");
  }
  const corsAllowedOrigins = r.list("CORS_ALLOWED_ORIGINS").map((o) => o.toLowerCase().replace(/\/$/, ""));
  for (const o of corsAllowedOrigins) {
    if (!originPattern.test(o)) {
      r.problem(`CORS_ALLOWED_ORIGINS entry "${o}" must be an origin such as https://app.example.com or https://*.example.com.`);
    }
  }
  const publicUrl = r.url("GATEWAY_PUBLIC_URL", { default: `http://localhost:${port}` });
  const config = {
    port,
    host,
    publicUrl: (publicUrl?.href ?? `http://localhost:${port}/`).replace(/\/$/, ""),
    brokerUrl: brokerUrl ?? new URL("http://127.0.0.1:8080"),
    brokerApiKey: brokerApiKey ?? "",
    agentApiKeys,
    corsAllowedOrigins,
    serverLimits: readServerLimits(r),
    logLevel: r.logLevel(),
    webAppDir: r.string("GATEWAY_WEB_APP_DIR"),
    tokenCacheSeconds: r.integer("GATEWAY_TOKEN_CACHE_SECONDS", { default: 30, min: 0, max: 300 }),
    tokenCacheMaxEntries: r.integer("GATEWAY_TOKEN_CACHE_MAX_ENTRIES", { default: 20_000, min: 1, max: 10_000_000 }),
  } satisfies GatewayConfig;
  r.finish();
  return Object.freeze(config);
}
