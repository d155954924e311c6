import { Counter, type Registry } from "prom-client";
import type { AuditDropReason, AuditMetrics } from "../domain/ports.ts";

const reasons: readonly AuditDropReason[] = ["queue_full", "shutdown", "rejected"];

/**
 * The audit log's metrics on the injected registry. Every reason starts at 0
 * so that an alert on `nexus_audit_events_dropped_total > 0` has a series to
 * watch before the first loss.
 */
export function createAuditMetrics(registry: Registry): AuditMetrics {
  const dropped = new Counter({
    name: "nexus_audit_events_dropped_total",
    help: "Audit events lost, by reason: queue_full (in-memory queue at AUDIT_QUEUE_MAX_EVENTS during a database outage), shutdown (still unwritten at the close deadline), rejected (refused by the database).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  for (const reason of reasons) dropped.inc({ reason }, 0);
  return {
    auditEventsDropped: (reason, count) => dropped.inc({ reason }, count),
  };
}
