import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type AuditEvent,
  AuditEventSchema,
  type AuditService as AuditServiceDesc,
  type ListAuditEventsRequest,
} from "../../../gen/nexus/broker/v1/audit_service_pb.ts";
import type { AuditEventRecord } from "../domain/ports.ts";
import type { AuditListQuery, AuditService } from "../services/audit-service.ts";

/** The AuditService RPCs: proto in, proto out. Errors are mapped by the error interceptor. */
export function createAuditHandlers(audit: AuditService): Partial<ServiceImpl<typeof AuditServiceDesc>> {
  return {
    async listAuditEvents(req) {
      const page = await audit.list(queryFromProto(req));
      return { events: page.events.map(auditEventToProto), nextCursor: page.nextCursor };
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
