/**
 * The one error type of Nexus. Every failure a caller can act on carries a
 * reason from a closed set, and may name the input field at fault and when a
 * retry can help; `connect-errors.ts` maps all of it, in one place, onto the
 * wire (a Connect code and HTTP status, and google.rpc.ErrorInfo, BadRequest
 * and RetryInfo details). Services throw these and never see Connect.
 *
 * Messages are for humans and never hold a secret (token, key, code, state).
 */

/** The closed set of failure reasons, as they appear on the wire. */
export const errorReasons = [
  // Bad input from the caller.
  "invalid_argument",
  "return_url_rejected",
  "credential_invalid",
  "state_missing",
  "state_invalid",
  "state_wrong_provider",
  "iss_missing",
  "iss_mismatch",
  // Who is calling.
  "unauthenticated",
  "agent_key_invalid",
  "agent_disabled",
  "assertion_invalid",
  "assertion_expired",
  "assertion_replayed",
  "permission_denied",
  "agent_not_authorized",
  "provider_not_allowed",
  // RFC 6749 / 8693 token exchange: the names its error bodies use.
  "invalid_request",
  "unsupported_grant_type",
  "invalid_grant",
  "invalid_scope",
  "invalid_target",
  "invalid_client",
  // What does not exist.
  "not_found",
  "provider_not_found",
  "connection_not_found",
  "agent_not_found",
  "session_not_found",
  "name_taken",
  // Two writers raced; read again and retry.
  "concurrent_change",
  // The state of things forbids the call.
  "state_expired",
  "state_replayed",
  "provider_deleted",
  "auth_type_immutable",
  "connection_pending",
  "connection_failed",
  "attention_required",
  "connection_revoked",
  "not_refreshable",
  "provider_error",
  "code_exchange_failed",
  "id_token_invalid",
  // Something else is down or slow; retrying later can help.
  "provider_unavailable",
  "refresh_backoff",
  "unavailable",
  "deadline_exceeded",
  // Limits.
  "payload_too_large",
  "header_too_large",
  // Our own faults; never carry details to the caller.
  "decrypt_failed",
  "key_unknown",
  "internal",
] as const;

/** A reason a Nexus call failed. */
export type ErrorReason = (typeof errorReasons)[number];

/** Options of {@linkcode NexusError}. */
export interface NexusErrorOptions {
  /** The input field at fault, for `invalid_argument` and its kin, as a path (`spec.scopes`, `credentials.api_key`). */
  field?: string;
  /** What is wrong with `field`, without naming it (`must be a UUID`); the message when absent. */
  description?: string;
  /** Seconds after which a retry may succeed, for `unavailable` kinds. */
  retryAfterSeconds?: number;
  /** The underlying error, kept for logs and never sent to callers. */
  cause?: unknown;
}

/** A failure with a machine-readable reason. */
export class NexusError extends Error {
  /** Why the call failed. */
  readonly reason: ErrorReason;
  /** The input field at fault, when there is one. */
  readonly field: string | undefined;
  /** What is wrong with the field, for a google.rpc.BadRequest field violation. */
  readonly description: string | undefined;
  /** Seconds after which a retry may succeed, when known. */
  readonly retryAfterSeconds: number | undefined;

  constructor(reason: ErrorReason, message: string, options: NexusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "NexusError";
    this.reason = reason;
    this.field = options.field;
    this.description = options.field === undefined ? undefined : options.description ?? message;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** Shorthand for an `invalid_argument` error naming the field at fault. */
export function invalidArgument(field: string, message: string): NexusError {
  return new NexusError("invalid_argument", `${field}: ${message}`, { field, description: message });
}

/** Tells whether a string is one of the closed set of reasons. */
export function isErrorReason(value: string): value is ErrorReason {
  return (errorReasons as readonly string[]).includes(value);
}
