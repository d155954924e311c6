import { isSecretKey } from "../../shared/logger.ts";
import type { AuditEventInput } from "../domain/ports.ts";
import type { Json, JsonObject } from "../domain/provider.ts";
import { inputPatterns } from "../../shared/input-rules.ts";

/** What an event type looks like: `provider.created`, `token.refresh_failed`. */
export const auditEventTypePattern = /^[a-z][a-z0-9_.]{0,63}$/;

const reasonPattern = /^[a-z0-9_.]{0,64}$/;
const uuidPattern = inputPatterns.uuid;
const maxString = 512;
const maxKeys = 32;
// Details are meant to be a few flat facts; deeper nesting is cut off rather than stored.
const maxDepth = 4;
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** An event as it is stored: sanitised and stamped. */
export type SanitisedAuditEvent = AuditEventInput & { readonly occurredAt: Date };

/**
 * Makes an event safe to store: secret-named detail keys dropped at every
 * depth, strings and key counts bounded, the reason reduced to a code.
 *
 * Anything PostgreSQL would reject (a malformed UUID, a NUL character, a lone
 * surrogate in JSON) is repaired here, because one bad event would otherwise
 * fail the whole batch it is written with. A malformed event type or outcome
 * is a programming error and throws a TypeError.
 */
export function sanitiseAuditEvent(event: AuditEventInput, occurredAt: Date): SanitisedAuditEvent {
  if (typeof event.eventType !== "string" || !auditEventTypePattern.test(event.eventType)) {
    throw new TypeError(`audit event type ${JSON.stringify(String(event.eventType).slice(0, 80))} does not match ${auditEventTypePattern}`);
  }
  if (event.outcome !== "success" && event.outcome !== "failure") {
    throw new TypeError(`audit outcome must be "success" or "failure"`);
  }
  const reason = event.reason ?? "";
  return {
    occurredAt,
    eventType: event.eventType,
    connectionId: uuidOrUndefined(event.connectionId),
    providerId: uuidOrUndefined(event.providerId),
    providerName: cleanString(event.providerName ?? "", maxString),
    caller: cleanString(event.caller ?? "", maxString),
    agentId: uuidOrUndefined(event.agentId),
    outcome: event.outcome,
    reason: typeof reason === "string" && reasonPattern.test(reason) ? reason : "invalid",
    details: event.details === undefined ? {} : cleanObject(event.details, 0),
  };
}

function uuidOrUndefined(value: string | undefined): string | undefined {
  if (typeof value !== "string") return undefined;
  const v = value.trim().toLowerCase();
  return uuidPattern.test(v) ? v : undefined;
}

function cleanObject(object: object, depth: number): JsonObject {
  const out: JsonObject = {};
  let count = 0;
  for (const [key, value] of Object.entries(object)) {
    if (count === maxKeys) break;
    if (isSecret(key)) continue;
    const clean = cleanValue(value, depth + 1);
    if (clean === undefined) continue;
    out[cleanString(key, 64)] = clean;
    count++;
  }
  return out;
}

function cleanValue(value: unknown, depth: number): Json | undefined {
  if (value === null || typeof value === "boolean") return value;
  // JSON has no NaN or Infinity; JSON.stringify would silently turn them into null anyway.
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "string") return cleanString(value, maxString);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value !== "object") return undefined;
  if (depth > maxDepth) return "[too deep]";
  if (Array.isArray(value)) return value.slice(0, maxKeys).map((v) => cleanValue(v, depth + 1) ?? null);
  return cleanObject(value, depth);
}

/** Secret-named keys, also when spelled in camelCase (`accessToken`). */
function isSecret(key: string): boolean {
  return isSecretKey(key) || isSecretKey(key.replace(/([a-z0-9])([A-Z])/g, "$1_$2"));
}

function cleanString(value: string, max: number): string {
  let v = value.replaceAll("\u0000", "").replace(loneSurrogate, "\uFFFD");
  if (v.length > max) {
    v = v.slice(0, max);
    // Never cut a surrogate pair in half: PostgreSQL rejects the lone half in jsonb.
    if (/[\uD800-\uDBFF]$/.test(v)) v = v.slice(0, -1);
  }
  return v;
}
