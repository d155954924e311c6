import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";

/** An input field at fault, from a google.rpc.BadRequest detail: its path (`connection_id`, `spec.scopes`) and what is wrong with it. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** Fields of a {@linkcode NexusClientError}. */
export interface NexusClientErrorInit {
  /** The Connect code name, for example `failed_precondition`. */
  readonly code: string;
  /** The Nexus reason, for example `attention_required` or `connection_not_found`. */
  readonly reason: string;
  /** Whether the same call may succeed later: `unavailable`, or `resource_exhausted` with a retry hint; never `payload_too_large`. */
  readonly retryable?: boolean;
  /** The ErrorInfo metadata: more context, never the reason, field or retry hint (those have details of their own). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** The fields at fault (google.rpc.BadRequest). */
  readonly fieldViolations?: readonly FieldViolation[];
  /** How long to wait before trying again, when the Gateway said (google.rpc.RetryInfo). */
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
}

/**
 * The one error type of the client, read from the error's details, never
 * from its message: act on `reason` (stable, machine-readable); `field`
 * names the input at fault; `retryable` says whether trying again can help,
 * and `retryAfterMs` when. The message is for people.
 */
export class NexusClientError extends Error {
  readonly code: string;
  readonly reason: string;
  readonly retryable: boolean;
  readonly metadata: Readonly<Record<string, string>>;
  readonly fieldViolations: readonly FieldViolation[];
  readonly retryAfterMs: number | undefined;

  constructor(message: string, init: NexusClientErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "NexusClientError";
    this.code = init.code;
    this.reason = init.reason;
    this.retryable = init.retryable ?? false;
    this.metadata = init.metadata ?? {};
    this.fieldViolations = init.fieldViolations ?? [];
    this.retryAfterMs = init.retryAfterMs;
  }

  /** The first input field at fault, when the error names one. */
  get field(): string | undefined {
    return this.fieldViolations[0]?.field;
  }
}

// Deterministic refusals share Connect's resource_exhausted code with rate limits; sending them again cannot help.
const notRetryableReasons = new Set(["payload_too_large", "header_too_large"]);

/**
 * Whether sending the same call again may succeed: `unavailable`, or a
 * `resource_exhausted` that says when to come back (a rate limit does; a body
 * or header that is too large never gets smaller by waiting, and a bare
 * resource_exhausted, from connect-es's own size limits, does not either).
 */
function isRetryable(code: string, reason: string, retryAfterMs: number | undefined): boolean {
  if (notRetryableReasons.has(reason)) return false;
  if (code === "unavailable") return true;
  return code === "resource_exhausted" && retryAfterMs !== undefined;
}

/**
 * Turns whatever a Gateway call threw into a {@linkcode NexusClientError}.
 * Everything comes from the error's code and details: the reason from the
 * google.rpc.ErrorInfo detail (the code's name when there is none), the
 * fields at fault from google.rpc.BadRequest, the retry hint from
 * google.rpc.RetryInfo. A fetch that never reached the Gateway (a TypeError
 * under Connect's `unknown`) is `unavailable`: the network, not the request,
 * was at fault. A NexusClientError the client threw on the way out (wrapped
 * by Connect) comes back as it was.
 */
export function toNexusClientError(error: unknown): NexusClientError {
  if (error instanceof NexusClientError) return error;
  const err = ConnectError.from(error);
  // Connect wraps what an interceptor throws (the client's own assertion signing, say): keep the original.
  if (err.cause instanceof NexusClientError) return err.cause;
  const networkFailure = err.code === Code.Unknown && err.cause instanceof TypeError;
  const code = networkFailure ? "unavailable" : codeName(err.code);
  const info = err.findDetails(ErrorInfoSchema).find((i) => i.reason !== "");
  const reason = info?.reason ?? code;
  const fieldViolations = err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map(({ field, description }) => ({ field, description })));
  const delay = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
  const retryAfterMs = delay === undefined ? undefined : Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6);
  const retryable = isRetryable(code, reason, retryAfterMs);
  const message = networkFailure ? `unavailable: the Gateway is not reachable (${err.rawMessage})` : err.rawMessage;
  return new NexusClientError(message, {
    code, reason, retryable, metadata: { ...info?.metadata }, fieldViolations, ...(retryAfterMs === undefined ? {} : { retryAfterMs }), cause: error,
  });
}

/** `FailedPrecondition` → `failed_precondition`, the names Connect uses on the wire. */
function codeName(code: Code): string {
  const name = Code[code] ?? "Unknown";
  return name.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c : `_${c}`)).toLowerCase();
}
