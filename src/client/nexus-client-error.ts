import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";

/** Fields of a {@linkcode NexusClientError}. */
export interface NexusClientErrorInit {
  /** The Connect code name, for example `failed_precondition`. */
  readonly code: string;
  /** The Nexus reason, for example `attention_required` or `connection_not_found`. */
  readonly reason: string;
  /** Whether the same call may succeed later: `unavailable`, or `resource_exhausted` with a retry hint; never `payload_too_large`. */
  readonly retryable?: boolean;
  /** The ErrorInfo metadata (`field`, `retry_after_seconds`, ...). */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

/**
 * The one error type of the client. Act on `reason` (stable, machine-readable)
 * rather than on the message; `retryable` says whether trying again can help.
 */
export class NexusClientError extends Error {
  readonly code: string;
  readonly reason: string;
  readonly retryable: boolean;
  readonly metadata: Readonly<Record<string, string>>;

  constructor(message: string, init: NexusClientErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "NexusClientError";
    this.code = init.code;
    this.reason = init.reason;
    this.retryable = init.retryable ?? false;
    this.metadata = init.metadata ?? {};
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
function isRetryable(code: string, reason: string, metadata: Readonly<Record<string, string>>): boolean {
  if (notRetryableReasons.has(reason)) return false;
  if (code === "unavailable") return true;
  return code === "resource_exhausted" && metadata.retry_after_seconds !== undefined;
}

/**
 * Turns whatever a Gateway call threw into a {@linkcode NexusClientError}.
 * The reason comes from the google.rpc.ErrorInfo detail, else from the
 * `<reason>: ` prefix the Gateway puts on every message, else the code name.
 * A fetch that never reached the Gateway (a TypeError under Connect's
 * `unknown`) is `unavailable`: the network, not the request, was at fault.
 * A NexusClientError the client threw on the way out (wrapped by Connect)
 * comes back as it was.
 */
export function toNexusClientError(error: unknown): NexusClientError {
  if (error instanceof NexusClientError) return error;
  const err = ConnectError.from(error);
  // Connect wraps what an interceptor throws (the client's own assertion signing, say): keep the original.
  if (err.cause instanceof NexusClientError) return err.cause;
  const networkFailure = err.code === Code.Unknown && err.cause instanceof TypeError;
  const code = networkFailure ? "unavailable" : codeName(err.code);
  const info = err.findDetails(ErrorInfoSchema)[0];
  const prefix = /^([a-z][a-z0-9_]*): /.exec(err.rawMessage)?.[1];
  const reason = info?.reason || prefix || code;
  const metadata = { ...info?.metadata };
  const retryable = isRetryable(code, reason, metadata);
  const message = networkFailure ? `unavailable: the Gateway is not reachable (${err.rawMessage})` : err.rawMessage;
  return new NexusClientError(message, { code, reason, retryable, metadata, cause: error });
}

/** `FailedPrecondition` → `failed_precondition`, the names Connect uses on the wire. */
function codeName(code: Code): string {
  const name = Code[code] ?? "Unknown";
  return name.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c : `_${c}`)).toLowerCase();
}
