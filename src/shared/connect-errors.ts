import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { type ErrorReason, isErrorReason, NexusError } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** The `domain` of every ErrorInfo detail Nexus sends. */
export const errorDomain = "nexus.dev";

/** RFC 6749 section 5.2 (and RFC 8693, RFC 8707) token endpoint errors. */
export type OAuthError =
  | "invalid_request" | "invalid_client" | "invalid_grant" | "unsupported_grant_type" | "invalid_scope" | "invalid_target"
  | "temporarily_unavailable" | "server_error";

/**
 * How one reason goes on the wire: its Connect code (and so its gRPC status
 * and HTTP status), an HTTP status of its own where the code's would mislead,
 * and the RFC 6749 error a token endpoint answers for it.
 */
interface WireForm {
  readonly code: Code;
  readonly oauth: OAuthError;
  /**
   * Connect sends 429 for resource_exhausted, which tells clients and proxies
   * to retry, while a body or header that is too large never gets smaller by
   * waiting. gRPC keeps RESOURCE_EXHAUSTED, with the reason in ErrorInfo.
   */
  readonly httpStatus?: number;
}

const form = (code: Code, oauth: OAuthError, httpStatus?: number): WireForm => (httpStatus === undefined ? { code, oauth } : { code, oauth, httpStatus });
const { InvalidArgument, Unauthenticated, PermissionDenied, NotFound, FailedPrecondition, Unavailable, Internal } = Code;

/** The one place where reasons become codes, HTTP statuses and OAuth errors. */
const wireForms: { readonly [R in ErrorReason]: WireForm } = {
  invalid_argument: form(InvalidArgument, "invalid_request"),
  return_url_rejected: form(InvalidArgument, "invalid_grant"),
  credential_invalid: form(InvalidArgument, "invalid_grant"),
  state_missing: form(InvalidArgument, "invalid_grant"),
  state_invalid: form(InvalidArgument, "invalid_grant"),
  state_wrong_provider: form(InvalidArgument, "invalid_grant"),
  iss_missing: form(InvalidArgument, "invalid_grant"),
  iss_mismatch: form(InvalidArgument, "invalid_grant"),
  unauthenticated: form(Unauthenticated, "invalid_client"),
  agent_key_invalid: form(Unauthenticated, "invalid_client"),
  agent_disabled: form(Unauthenticated, "invalid_client"),
  assertion_invalid: form(Unauthenticated, "invalid_client"),
  assertion_expired: form(Unauthenticated, "invalid_client"),
  assertion_replayed: form(Unauthenticated, "invalid_client"),
  permission_denied: form(PermissionDenied, "invalid_grant"),
  agent_not_authorized: form(PermissionDenied, "invalid_grant"),
  provider_not_allowed: form(PermissionDenied, "invalid_grant"),
  invalid_request: form(InvalidArgument, "invalid_request"),
  unsupported_grant_type: form(InvalidArgument, "unsupported_grant_type"),
  invalid_grant: form(PermissionDenied, "invalid_grant"),
  invalid_scope: form(PermissionDenied, "invalid_scope"),
  invalid_target: form(InvalidArgument, "invalid_target"),
  invalid_client: form(Unauthenticated, "invalid_client"),
  not_found: form(NotFound, "invalid_grant"),
  provider_not_found: form(NotFound, "invalid_grant"),
  connection_not_found: form(NotFound, "invalid_grant"),
  agent_not_found: form(NotFound, "invalid_grant"),
  session_not_found: form(NotFound, "invalid_grant"),
  name_taken: form(Code.AlreadyExists, "invalid_grant"),
  concurrent_change: form(Code.Aborted, "invalid_grant"),
  state_expired: form(FailedPrecondition, "invalid_grant"),
  state_replayed: form(FailedPrecondition, "invalid_grant"),
  provider_deleted: form(FailedPrecondition, "invalid_grant"),
  auth_type_immutable: form(FailedPrecondition, "invalid_grant"),
  connection_pending: form(FailedPrecondition, "invalid_grant"),
  connection_failed: form(FailedPrecondition, "invalid_grant"),
  attention_required: form(FailedPrecondition, "invalid_grant"),
  connection_revoked: form(FailedPrecondition, "invalid_grant"),
  not_refreshable: form(FailedPrecondition, "invalid_grant"),
  provider_error: form(FailedPrecondition, "invalid_grant"),
  code_exchange_failed: form(FailedPrecondition, "invalid_grant"),
  id_token_invalid: form(PermissionDenied, "invalid_grant"),
  provider_unavailable: form(Unavailable, "temporarily_unavailable"),
  refresh_backoff: form(Unavailable, "temporarily_unavailable"),
  unavailable: form(Unavailable, "temporarily_unavailable"),
  deadline_exceeded: form(Code.DeadlineExceeded, "temporarily_unavailable"),
  payload_too_large: form(Code.ResourceExhausted, "invalid_request", 413),
  header_too_large: form(Code.ResourceExhausted, "invalid_request", 431),
  decrypt_failed: form(Internal, "server_error"),
  key_unknown: form(Internal, "server_error"),
  internal: form(Internal, "server_error"),
};

const oauthStatus: { readonly [E in OAuthError]: number } = {
  invalid_request: 400, invalid_client: 401, invalid_grant: 400, unsupported_grant_type: 400, invalid_scope: 400, invalid_target: 400,
  temporarily_unavailable: 503, server_error: 500,
};

/** The Connect code a reason maps to. */
export function codeForReason(reason: ErrorReason): Code {
  return wireForms[reason].code;
}

/** What an operator does about an internal fault, by reason (logged with it). */
const internalHints: { readonly [R in ErrorReason]?: string } = {
  decrypt_failed: "a stored value does not open with its key: check that ENCRYPTION_KEY / ENCRYPTION_KEYS hold the key it was sealed with (docs/troubleshooting.md)",
  key_unknown: "a stored value names a key that is not loaded: add it back to ENCRYPTION_KEYS (docs/troubleshooting.md)",
};

/** The HTTP status of an error over REST and Connect: its reason's own, else its code's. */
export function httpStatusFor(error: ConnectError): number {
  const reason = reasonOf(error);
  return (reason === undefined ? undefined : wireForms[reason].httpStatus) ?? codeToHttpStatus(error.code);
}

/** The RFC 6749 error and HTTP status a token endpoint answers for a reason (`server_error` when there is none). */
export function oauthErrorFor(reason: ErrorReason | undefined): { readonly error: OAuthError; readonly status: number } {
  const wire = reason === undefined ? wireForms.internal : wireForms[reason];
  return { error: wire.oauth, status: wire.httpStatus ?? oauthStatus[wire.oauth] };
}

/** What an error says beyond its reason and message, each in its google.rpc detail. */
export interface ReasonDetails {
  /** The input field at fault, as a path: a google.rpc.BadRequest field violation. */
  readonly field?: string;
  /** What is wrong with `field`; the message when absent. */
  readonly description?: string;
  /** When a retry may succeed: a google.rpc.RetryInfo detail. */
  readonly retryAfterSeconds?: number;
  /** More machine-readable context, in the ErrorInfo detail. Never a secret. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Builds the ConnectError of a reason: the message a person reads, prefixed
 * with the reason (`connection_not_found: no connection ...`), with the
 * reason in a google.rpc.ErrorInfo detail, the field at fault in a
 * google.rpc.BadRequest detail and the retry hint in a google.rpc.RetryInfo
 * detail. Every protocol carries the same details: Connect and REST in the
 * JSON body, gRPC and gRPC-Web in `grpc-status-details-bin`.
 */
export function withReason(reason: ErrorReason, message: string, details: ReasonDetails = {}): ConnectError {
  const out: ConstructorParameters<typeof ConnectError>[3] = [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: errorDomain, metadata: { ...details.metadata } }) },
  ];
  if (details.field !== undefined) {
    const violation = { field: details.field, description: details.description ?? message };
    out.push({ desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: [violation] }) });
  }
  if (details.retryAfterSeconds !== undefined) {
    const seconds = BigInt(Math.max(0, Math.ceil(details.retryAfterSeconds)));
    out.push({ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: { seconds } }) });
  }
  return new ConnectError(`${reason}: ${message}`, wireForms[reason].code, undefined, out);
}

/**
 * Turns any thrown value into a ConnectError a caller may see.
 *
 * A NexusError keeps its reason, field and retry hint (see
 * {@linkcode withReason}). A ConnectError passes unchanged, so the Gateway
 * relays the Broker's errors faithfully. Anything else is an internal fault:
 * it is logged with its cause, and the caller learns only that it happened.
 */
export function toConnectError(error: unknown, logger?: Logger): ConnectError {
  if (error instanceof NexusError) {
    // Internal faults (a vault key missing, a ciphertext that does not open) are the
    // operator's business: they are logged in full, and callers learn only that one happened.
    if (wireForms[error.reason].code === Code.Internal) {
      logger?.error("internal error", { reason: error.reason, err: error, hint: internalHints[error.reason] ?? "a fault in Nexus; report it with this line" });
      return withReason("internal", "an internal error occurred");
    }
    return withReason(error.reason, error.message, {
      ...(error.field === undefined ? {} : { field: error.field, description: error.description ?? error.message }),
      ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    });
  }
  if (error instanceof ConnectError) return error;
  if (isAbortError(error)) return new ConnectError("canceled: the call was canceled", Code.Canceled);
  logger?.error("unexpected error: a fault in Nexus, answered as internal; report it with this line", { err: error });
  return withReason("internal", "an internal error occurred");
}

/** Reads the Nexus reason of a ConnectError, from its ErrorInfo detail. */
export function reasonOf(error: ConnectError): ErrorReason | undefined {
  for (const info of error.findDetails(ErrorInfoSchema)) {
    if (info.domain === errorDomain && isErrorReason(info.reason)) return info.reason;
  }
  return undefined;
}

/** The seconds after which a retry may succeed, from the error's RetryInfo detail. */
export function retryAfterSecondsOf(error: ConnectError): number | undefined {
  const delay = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
  return delay === undefined ? undefined : Number(delay.seconds) + delay.nanos / 1e9;
}

/** The message a person reads, without the reason {@linkcode withReason} put in front of it. */
export function messageText(error: ConnectError): string {
  const reason = reasonOf(error);
  const prefix = reason === undefined ? "" : `${reason}: `;
  return prefix !== "" && error.rawMessage.startsWith(prefix) ? error.rawMessage.slice(prefix.length) : error.rawMessage;
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
