import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { BrokerMetrics } from "../domain/ports.ts";

/**
 * The credential metrics of API.md, on the injected registry. Label values are
 * registered provider names (or `unknown`) and outcome words only, never a
 * token, key, user id or any other text a caller chose: every distinct value
 * is a series kept for the life of the process.
 */
export function createBrokerMetrics(registry: Registry): BrokerMetrics {
  const tokenGets = new Counter({
    name: "oauth_token_get_total",
    help: "Credential reads (GetToken, ResolveToken) by provider name and outcome.",
    labelNames: ["provider", "status"] as const,
    registers: [registry],
  });
  const refreshes = new Counter({
    name: "oauth_token_refreshes_total",
    help: "Token refresh attempts (background and on demand) by outcome.",
    labelNames: ["status"] as const,
    registers: [registry],
  });
  const refreshDuration = new Histogram({
    name: "oauth_refresh_duration_seconds",
    help: "End-to-end duration of a token refresh, provider call included.",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const captures = new Counter({
    name: "oauth_credential_captures_total",
    help: "Static credential captures by outcome.",
    labelNames: ["status"] as const,
    registers: [registry],
  });
  const connections = new Gauge({
    name: "nexus_connections_total",
    help: "Connections by status, as last counted (every 30 s).",
    labelNames: ["status"] as const,
    registers: [registry],
  });
  const dbDuration = new Histogram({
    name: "nexus_db_operation_duration_seconds",
    help: "Duration of each repository operation.",
    labelNames: ["repo", "method"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const cacheLookups = new Counter({
    name: "nexus_token_cache_lookups_total",
    help: "Token reads that looked in the Broker's token cache, by result (hit, miss, untrusted).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  for (const result of ["hit", "miss", "untrusted"] as const) cacheLookups.inc({ result }, 0);
  const sessions = new Counter({
    name: "nexus_session_events_total",
    help: "Sessions created, exchanged (RFC 8693) and revoked, by outcome (success or refused).",
    labelNames: ["event", "outcome"] as const,
    registers: [registry],
  });
  for (const event of ["created", "exchanged", "revoked"] as const) {
    for (const outcome of ["success", "refused"] as const) sessions.inc({ event, outcome }, 0);
  }
  for (const status of ["success", "error"] as const) {
    refreshes.inc({ status }, 0);
    captures.inc({ status }, 0);
  }
  return {
    tokenGet: (provider, status, count = 1) => tokenGets.inc({ provider, status }, count),
    refresh(status, seconds) {
      refreshes.inc({ status });
      refreshDuration.observe(seconds);
    },
    capture: (status) => captures.inc({ status }),
    connections(counts) {
      for (const [status, n] of Object.entries(counts)) connections.set({ status }, n);
    },
    dbOperation: (repo, method, seconds) => dbDuration.observe({ repo, method }, seconds),
    tokenCacheLookup: (result) => cacheLookups.inc({ result }),
    session: (event, outcome) => sessions.inc({ event, outcome }),
  };
}
