import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { type ErrorReason, isErrorReason, NexusError } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** The `domain` of every ErrorInfo detail Nexus sends. */
export const errorDomain = "nexus.dev";

/** The one place where reasons become Connect codes (and so HTTP statuses). */
const codeByReason: { readonly [R in ErrorReason]: Code } = {
  invalid_argument: Code.InvalidArgument,
  return_url_rejected: Code.InvalidArgument,
  credential_invalid: Code.InvalidArgument,
  state_missing: Code.InvalidArgument,
  state_invalid: Code.InvalidArgument,
  state_wrong_provider: Code.InvalidArgument,
  iss_missing: Code.InvalidArgument,
  iss_mismatch: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  agent_key_invalid: Code.Unauthenticated,
  agent_disabled: Code.Unauthenticated,
  assertion_invalid: Code.Unauthenticated,
  assertion_expired: Code.Unauthenticated,
  assertion_replayed: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  agent_not_authorized: Code.PermissionDenied,
  provider_not_allowed: Code.PermissionDenied,
  invalid_request: Code.InvalidArgument,
  unsupported_grant_type: Code.InvalidArgument,
  invalid_grant: Code.PermissionDenied,
  invalid_scope: Code.PermissionDenied,
  invalid_target: Code.InvalidArgument,
  invalid_client: Code.Unauthenticated,
  not_found: Code.NotFound,
  provider_not_found: Code.NotFound,
  connection_not_found: Code.NotFound,
  agent_not_found: Code.NotFound,
  session_not_found: Code.NotFound,
  name_taken: Code.AlreadyExists,
  concurrent_change: Code.Aborted,
  state_expired: Code.FailedPrecondition,
  state_replayed: Code.FailedPrecondition,
  provider_deleted: Code.FailedPrecondition,
  auth_type_immutable: Code.FailedPrecondition,
  connection_pending: Code.FailedPrecondition,
  connection_failed: Code.FailedPrecondition,
  attention_required: Code.FailedPrecondition,
  connection_revoked: Code.FailedPrecondition,
  not_refreshable: Code.FailedPrecondition,
  provider_error: Code.FailedPrecondition,
  code_exchange_failed: Code.FailedPrecondition,
  id_token_invalid: Code.PermissionDenied,
  provider_unavailable: Code.Unavailable,
  refresh_backoff: Code.Unavailable,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  payload_too_large: Code.ResourceExhausted,
  header_too_large: Code.ResourceExhausted,
  decrypt_failed: Code.Internal,
  key_unknown: Code.Internal,
  internal: Code.Internal,
};

/**
 * Reasons whose HTTP status (REST and Connect unary) is not their code's:
 * Connect sends 429 for resource_exhausted, which tells clients and proxies
 * to retry, while a body or header that is too large never gets smaller by
 * waiting. gRPC keeps RESOURCE_EXHAUSTED, with the reason in ErrorInfo.
 */
const httpStatusByReason: { readonly [R in ErrorReason]?: number } = {
  payload_too_large: 413,
  header_too_large: 431,
};

/** The Connect code a reason maps to. */
export function codeForReason(reason: ErrorReason): Code {
  return codeByReason[reason];
}

/** What an operator does about an internal fault, by reason (logged with it). */
const internalHints: { readonly [R in ErrorReason]?: string } = {
  decrypt_failed: "a stored value does not open with its key: check that ENCRYPTION_KEY / ENCRYPTION_KEYS hold the key it was sealed with (docs/troubleshooting.md)",
  key_unknown: "a stored value names a key that is not loaded: add it back to ENCRYPTION_KEYS (docs/troubleshooting.md)",
};

/** The HTTP status of an error over REST and Connect: its reason's own, else its code's. */
export function httpStatusFor(error: ConnectError): number {
  const reason = reasonOf(error);
  return (reason === undefined ? undefined : httpStatusByReason[reason]) ?? codeToHttpStatus(error.code);
}

/**
 * Turns any thrown value into a ConnectError a caller may see.
 *
 * A NexusError keeps its reason (in the message and in a google.rpc.ErrorInfo
 * detail). A ConnectError passes unchanged, so the Gateway relays the
 * Broker's errors faithfully. Anything else is an internal fault: it is logged
 * with its cause, and the caller learns only that it happened.
 */
export function toConnectError(error: unknown, logger?: Logger): ConnectError {
  if (error instanceof NexusError) {
    // Internal faults (a vault key missing, a ciphertext that does not open) are the
    // operator's business: they are logged in full, and callers learn only that one happened.
    if (codeByReason[error.reason] === Code.Internal) {
      logger?.error("internal error", { reason: error.reason, err: error, hint: internalHints[error.reason] ?? "a fault in Nexus; report it with this line" });
      return withReason("internal", "an internal error occurred", {});
    }
    return withReason(error.reason, error.message, {
      ...(error.field === undefined ? {} : { field: error.field }),
      ...(error.retryAfterSeconds === undefined ? {} : { retry_after_seconds: String(error.retryAfterSeconds) }),
    });
  }
  if (error instanceof ConnectError) return error;
  if (isAbortError(error)) return new ConnectError("canceled: the call was canceled", Code.Canceled);
  logger?.error("unexpected error: a fault in Nexus, answered as internal; report it with this line", { err: error });
  return withReason("internal", "an internal error occurred", {});
}

/** Builds a ConnectError carrying `reason` in its message and an ErrorInfo detail. */
export function withReason(reason: ErrorReason, message: string, metadata: Record<string, string>): ConnectError {
  return new ConnectError(`${reason}: ${message}`, codeByReason[reason], undefined, [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: errorDomain, metadata }) },
  ]);
}

/** Reads the Nexus reason of a ConnectError, from its ErrorInfo detail. */
export function reasonOf(error: ConnectError): ErrorReason | undefined {
  for (const info of error.findDetails(ErrorInfoSchema)) {
    if (info.domain === errorDomain && isErrorReason(info.reason)) return info.reason;
  }
  return undefined;
}

/** An interceptor that maps whatever a handler throws with {@linkcode toConnectError}. */
export function createErrorInterceptor(logger: Logger): Interceptor {
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (error) {
      throw toConnectError(error, logger);
    }
  };
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}
