/**
 * The bounds both services put on every client connection, read from the
 * environment by each service's config loader (one definition, so the Broker
 * and the Gateway cannot drift apart). docs/security.md explains each default.
 */
import type { ConfigReader } from "./config-reader.ts";

/** What one client connection may hold, and for how long. Times are in milliseconds. */
export interface ServerLimits {
  /** From accept until the client shows its protocol: an HTTP/1.1 request's first byte, or the whole HTTP/2 preface. */
  readonly handshakeTimeoutMs: number;
  /** HTTP/1.1: from a request's first byte until its headers are complete. */
  readonly headersTimeoutMs: number;
  /**
   * Until a request has fully arrived: HTTP/1.1 from its first byte to the end
   * of its body, HTTP/2 from a stream's HEADERS to its END_STREAM. The time the
   * server takes to answer, and a streamed response, are not counted.
   */
  readonly requestTimeoutMs: number;
  /** HTTP/1.1: how long a connection may wait, between requests, for the next one. */
  readonly keepAliveTimeoutMs: number;
  /** HTTP/2: how long a session may stay open without a stream. */
  readonly http2IdleTimeoutMs: number;
  /** HTTP/2: streams one session may have open at once, advertised in SETTINGS and enforced. */
  readonly http2MaxConcurrentStreams: number;
  /** HTTP/2: memory one session may use (header tables, buffered frames) before new streams are refused, in MB. */
  readonly http2MaxSessionMemoryMb: number;
  /** Open client connections per process; `undefined` derives it from the open-file limit ({@linkcode defaultMaxConnections}). */
  readonly maxConnections: number | undefined;
  /**
   * Requests in progress per process, HTTP/1.1 requests and HTTP/2 streams
   * alike, from their headers until their response ends. It bounds what
   * connections times streams could otherwise hold (each pending request costs
   * about 20 KB). Health checks and /metrics get {@linkcode healthRequestReserve} more.
   */
  readonly maxConcurrentRequests: number;
}

/** Requests to health and metrics paths still admitted past `maxConcurrentRequests`, so probes see a busy process, not a dead one. */
export const healthRequestReserve = 100;

/** Every limit's default; `maxConnections` has none here because it follows the open-file limit. */
export const serverLimitDefaults = {
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  http2IdleTimeoutMs: 60_000,
  http2MaxConcurrentStreams: 100,
  http2MaxSessionMemoryMb: 10,
  maxConcurrentRequests: 10_000,
} as const;

/** The most connections a process takes by default, whatever its open-file limit. */
export const maxConnectionsCeiling = 10_000;

/**
 * The default connection cap for a process allowed `openFileLimit` file
 * descriptors: three quarters of it, so the database pool, the Broker pool,
 * outbound provider calls and the sockets being refused still get
 * descriptors, and at most {@linkcode maxConnectionsCeiling}.
 */
export function defaultMaxConnections(openFileLimit: number | undefined): number {
  if (openFileLimit === undefined || !Number.isFinite(openFileLimit)) return maxConnectionsCeiling;
  return Math.max(1, Math.min(maxConnectionsCeiling, Math.floor((openFileLimit * 3) / 4)));
}

const second = 1000;

/** Reads the SERVER_* and HTTP2_* variables; problems go to the reader like any other. */
export function readServerLimits(r: ConfigReader): ServerLimits {
  const d = serverLimitDefaults;
  // No limit can be turned off: the smallest values exist for tests, the largest stop a typo from meaning "never".
  const ms = (name: string, fallback: number, max: number) => r.integer(name, { default: fallback, min: 100, max });
  const limits: ServerLimits = {
    handshakeTimeoutMs: ms("SERVER_HANDSHAKE_TIMEOUT_MS", d.handshakeTimeoutMs, 600 * second),
    headersTimeoutMs: ms("SERVER_HEADERS_TIMEOUT_MS", d.headersTimeoutMs, 600 * second),
    requestTimeoutMs: ms("SERVER_REQUEST_TIMEOUT_MS", d.requestTimeoutMs, 3600 * second),
    keepAliveTimeoutMs: ms("SERVER_KEEP_ALIVE_TIMEOUT_MS", d.keepAliveTimeoutMs, 600 * second),
    http2IdleTimeoutMs: ms("HTTP2_IDLE_TIMEOUT_MS", d.http2IdleTimeoutMs, 86_400 * second),
    http2MaxConcurrentStreams: r.integer("HTTP2_MAX_CONCURRENT_STREAMS", { default: d.http2MaxConcurrentStreams, min: 1, max: 10_000 }),
    http2MaxSessionMemoryMb: r.integer("HTTP2_MAX_SESSION_MEMORY_MB", { default: d.http2MaxSessionMemoryMb, min: 1, max: 1024 }),
    maxConcurrentRequests: r.integer("SERVER_MAX_CONCURRENT_REQUESTS", { default: d.maxConcurrentRequests, min: 1, max: 1_000_000 }),
    maxConnections: r.string("SERVER_MAX_CONNECTIONS") === undefined
      ? undefined
      : r.integer("SERVER_MAX_CONNECTIONS", { default: maxConnectionsCeiling, min: 1, max: 1_000_000 }),
  };
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    r.problem(`SERVER_HEADERS_TIMEOUT_MS (${limits.headersTimeoutMs}) must not exceed SERVER_REQUEST_TIMEOUT_MS (${limits.requestTimeoutMs}): headers are part of the request.`);
  }
  return Object.freeze(limits);
}

/**
 * The limits as log fields named after their variables (lower case), such as
 * `server_request_timeout_ms`, for the startup line.
 */
export function serverLimitsLogFields(limits: ServerLimits): Record<string, number | undefined> {
  return {
    server_handshake_timeout_ms: limits.handshakeTimeoutMs,
    server_headers_timeout_ms: limits.headersTimeoutMs,
    server_request_timeout_ms: limits.requestTimeoutMs,
    server_keep_alive_timeout_ms: limits.keepAliveTimeoutMs,
    server_max_connections: limits.maxConnections,
    server_max_concurrent_requests: limits.maxConcurrentRequests,
    http2_idle_timeout_ms: limits.http2IdleTimeoutMs,
    http2_max_concurrent_streams: limits.http2MaxConcurrentStreams,
    http2_max_session_memory_mb: limits.http2MaxSessionMemoryMb,
  };
}
