import { Counter, Gauge, type Registry } from "prom-client";
import type { ReadDropReason } from "./cached-read-reporter.ts";

/** What the Gateway's token cache reports. */
export interface TokenCacheMetrics {
  /** A GetToken looked in the cache: found, not found, or passed it by (not in sync, or a caller whose answers are never kept). */
  lookup(result: "hit" | "miss" | "bypass"): void;
  /** `count` reads answered from the cache were never reported to the Broker. */
  readsDropped(reason: ReadDropReason, count: number): void;
}

/**
 * Registers `nexus_gateway_token_cache_lookups_total{result}`,
 * `nexus_gateway_cached_reads_dropped_total{reason}` and
 * `nexus_gateway_token_cache_entries` on `registry`. Alert on any increase
 * of the dropped counter: those reads are missing from the audit log.
 */
export function createTokenCacheMetrics(registry: Registry, entries: () => number): TokenCacheMetrics {
  const lookups = new Counter({
    name: "nexus_gateway_token_cache_lookups_total",
    help: "GetToken calls that looked in the Gateway's token cache, by result (hit, miss, bypass)",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  // Children made once: a lookup runs on every read, and labelled inc() hashes its labels each time.
  const byResult = { hit: lookups.labels("hit"), miss: lookups.labels("miss"), bypass: lookups.labels("bypass") };
  for (const child of Object.values(byResult)) child.inc(0);
  const dropped = new Counter({
    name: "nexus_gateway_cached_reads_dropped_total",
    help: "Reads answered from the Gateway's cache that never reached the Broker's audit log, by reason (queue_full, shutdown)",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  for (const reason of ["queue_full", "shutdown"] as const) dropped.inc({ reason }, 0);
  new Gauge({
    name: "nexus_gateway_token_cache_entries",
    help: "Answers held in the Gateway's token cache",
    registers: [registry],
    collect() {
      this.set(entries());
    },
  });
  return {
    lookup: (result) => byResult[result].inc(),
    readsDropped: (reason, count) => dropped.inc({ reason }, count),
  };
}
