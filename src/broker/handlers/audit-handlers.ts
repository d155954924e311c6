import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type AuditEvent,
  AuditEventSchema,
  type AuditService as AuditServiceDesc,
  type ListAuditEventsRequest,
} from "../../../gen/nexus/broker/v1/audit_service_pb.ts";
import { invalidArgument } from "../../shared/errors.ts";
import type { AuditEventRecord } from "../domain/ports.ts";
import type { AuditListQuery, AuditService } from "../services/audit-service.ts";
import { callerOf } from "./caller.ts";

/** The AuditService RPCs: proto in, proto out. Errors are mapped by the error interceptor. */
export function createAuditHandlers(audit: AuditService): ServiceImpl<typeof AuditServiceDesc> {
  return {
    async listAuditEvents(req) {
      const page = await audit.list(queryFromProto(req));
      return { events: page.events.map(auditEventToProto), nextCursor: page.nextCursor };
    },
    async recordManifestApplied(req, ctx) {
      if (!/^[0-9a-f]{64}$/.test(req.planHash)) throw invalidArgument("plan_hash", "must be a SHA-256 in lowercase hex");
      for (const [field, n] of [["created", req.created], ["updated", req.updated], ["deleted", req.deleted]] as const) {
        if (n < 0 || n > 100_000) throw invalidArgument(field, "must be from 0 to 100000");
      }
      await audit.recordNow({
        eventType: "manifest.applied", caller: callerOf(ctx), outcome: "success",
        details: { plan_hash: req.planHash, created: req.created, updated: req.updated, deleted: req.deleted },
      });
      return {};
    },
  };
}

/**
 * Proto3 cannot tell an unset scalar from its zero value, so "" and a limit
 * of 0 mean "not given" (limit 0 takes the default), as in every list RPC.
 */
function queryFromProto(req: ListAuditEventsRequest): AuditListQuery {
  return {
    ...(req.connectionId === "" ? {} : { connectionId: req.connectionId }),
    ...(req.agentId === "" ? {} : { agentId: req.agentId }),
    ...(req.eventType === "" ? {} : { eventType: req.eventType }),
    ...(req.since === undefined ? {} : { since: timestampDate(req.since) }),
    ...(req.until === undefined ? {} : { until: timestampDate(req.until) }),
    ...(req.limit === 0 ? {} : { limit: req.limit }),
    ...(req.cursor === "" ? {} : { cursor: req.cursor }),
  };
}

function auditEventToProto(e: AuditEventRecord): AuditEvent {
  return create(AuditEventSchema, {
    id: e.id.toString(),
    time: timestampFromDate(e.occurredAt),
    eventType: e.eventType,
    connectionId: e.connectionId ?? "",
    providerId: e.providerId ?? "",
    providerName: e.providerName,
    caller: e.caller,
    agentId: e.agentId ?? "",
    outcome: e.outcome,
    reason: e.reason,
    details: e.details,
  });
}
