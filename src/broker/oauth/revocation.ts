/**
 * Token revocation (RFC 7009), used on disconnect (security.md S-25, C-62).
 */
import { invalidArgument, NexusError } from "../../shared/errors.ts";
import { applyClientAuthentication } from "./client-authentication.ts";
import { type FetchLike, fetchFailureKind, fetchWithTimeout } from "./fetch-with-timeout.ts";
import { discardBody } from "./read-json-object.ts";
import type { TokenClient } from "./token-endpoint.ts";

/**
 * The outcome of a revocation: `revoked` (done; RFC 7009 answers 200 even for
 * unknown tokens), `retry` (5xx, 408, 429, network failure or timeout: try
 * again later), `unsupported` (any other answer, such as 400
 * `unsupported_token_type` or a misconfigured client: retrying will not help).
 */
export type RevocationOutcome = "revoked" | "retry" | "unsupported";

/** Options of {@linkcode revokeToken}. */
export interface RevocationOptions {
  fetch: FetchLike;
  signal?: AbortSignal;
  /** Deadline of the request (default 15 s). */
  timeoutMs?: number;
}

/**
 * Asks the provider to revoke `token`, authenticating as the client the same
 * way as at the token endpoint. Only the caller's abort rejects (with its
 * reason); provider trouble is reported through the outcome, and an endpoint
 * the outbound policy refuses is `unsupported`.
 */
export async function revokeToken(
  client: TokenClient & { revocationEndpoint: string },
  token: string,
  hint: "refresh_token" | "access_token",
  options: RevocationOptions,
): Promise<RevocationOutcome> {
  if (token === "") throw invalidArgument("token", "must not be empty");
  let url: URL;
  try {
    url = new URL(client.revocationEndpoint);
  } catch {
    throw invalidArgument("revocation_endpoint", `"${client.revocationEndpoint}" is not an absolute URL`);
  }
  const body = new URLSearchParams({ token, token_type_hint: hint });
  const headers = new Headers({ accept: "application/json", "content-type": "application/x-www-form-urlencoded;charset=UTF-8" });
  applyClientAuthentication(client, headers, body);
  let response: Response;
  try {
    response = await fetchWithTimeout(options.fetch, url, { method: "POST", headers, body }, {
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? 15_000,
    });
  } catch (error) {
    if (fetchFailureKind(error, options.signal) === "aborted") throw error;
    // The outbound policy refused the endpoint: asking again will not change that.
    return error instanceof NexusError ? "unsupported" : "retry";
  }
  return processRevocationResponse(response);
}

/** Classifies a revocation response by status alone; the body is discarded unread. */
export async function processRevocationResponse(response: Response): Promise<RevocationOutcome> {
  const status = response.status;
  await discardBody(response);
  if (status >= 200 && status < 300) return "revoked";
  if (status >= 500 || status === 408 || status === 429) return "retry";
  return "unsupported";
}
