import { Counter, Gauge, type Registry } from "prom-client";

/** Why the server closed a client connection itself. */
export type CloseReason =
  | "handshake_timeout"
  | "headers_timeout"
  | "request_timeout"
  | "keep_alive_timeout"
  | "http2_idle_timeout"
  | "evicted"
  | "refused";

/** What the connection limits report. */
export interface ServerMetrics {
  closed(reason: CloseReason): void;
  /** An HTTP/2 stream whose request did not arrive in time was answered 408 and reset. */
  streamTimedOut(): void;
  /** A request was answered 503 past SERVER_MAX_CONCURRENT_REQUESTS. */
  requestRefused(): void;
}

/** Counts of open connections, read when /metrics is scraped. */
export interface ConnectionCounts {
  readonly size: number;
  readonly idleCount: number;
}

/**
 * Registers `nexus_http_connections{state}` (open client connections, idle or
 * busy), `nexus_http_connections_closed_total{reason}` and
 * `nexus_http2_streams_timed_out_total` and `nexus_http_requests_refused_total`
 * on `registry`; without one, counts nothing.
 */
export function createServerMetrics(registry: Registry | undefined, counts: () => ConnectionCounts): ServerMetrics {
  if (registry === undefined) return { closed() {}, streamTimedOut() {}, requestRefused() {} };
  new Gauge({
    name: "nexus_http_connections",
    help: "Open client connections: idle ones (no request in progress) are closed first at SERVER_MAX_CONNECTIONS",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const { size, idleCount } = counts();
      this.set({ state: "idle" }, idleCount);
      this.set({ state: "busy" }, size - idleCount);
    },
  });
  const closed = new Counter({
    name: "nexus_http_connections_closed_total",
    help: "Client connections the server closed itself, by reason (a timeout, evicted at the cap, refused past it)",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const streams = new Counter({
    name: "nexus_http2_streams_timed_out_total",
    help: "HTTP/2 streams reset because their request did not arrive within SERVER_REQUEST_TIMEOUT_MS",
    registers: [registry],
  });
  const refused = new Counter({
    name: "nexus_http_requests_refused_total",
    help: "Requests answered 503 because SERVER_MAX_CONCURRENT_REQUESTS were already in progress",
    registers: [registry],
  });
  return {
    closed: (reason) => closed.inc({ reason }),
    streamTimedOut: () => streams.inc(),
    requestRefused: () => refused.inc(),
  };
}
