/**
 * Token revocation (RFC 7009) on oauth4webapi, used on disconnect
 * (security.md S-25, C-62).
 */
import * as oauth from "oauth4webapi";
import { invalidArgument, NexusError } from "../../shared/errors.ts";
import { clientAuthentication, clientMetadata } from "./client-authentication.ts";
import { type FetchLike, fetchFailureKind } from "./fetch-with-timeout.ts";
import { providerHttp } from "./provider-http.ts";
import { discardBody } from "./read-json-object.ts";
import { isInsecureRefusal, type TokenClient } from "./token-endpoint.ts";

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
  let response: Response;
  try {
    response = await oauth.revocationRequest(
      { issuer: url.origin, revocation_endpoint: url.href },
      clientMetadata(client.clientId),
      clientAuthentication(client),
      token,
      {
        ...providerHttp(url, { fetch: options.fetch, signal: options.signal, timeoutMs: options.timeoutMs ?? 15_000, quirks: client.quirks ?? [] }),
        additionalParameters: { token_type_hint: hint },
      },
    );
  } catch (error) {
    if (fetchFailureKind(error, options.signal) === "aborted") throw error;
    // The outbound policy (or oauth4webapi, for plain http) refused the endpoint: asking again will not change that.
    return error instanceof NexusError || isInsecureRefusal(error) ? "unsupported" : "retry";
  }
  return processRevocationResponse(response);
}

/**
 * Classifies a revocation response by status alone, the body discarded
 * unread: oauth4webapi's processRevocationResponse accepts only a 200 and
 * does not tell a retry from a refusal, which the disconnect flow needs.
 */
export async function processRevocationResponse(response: Response): Promise<RevocationOutcome> {
  const status = response.status;
  await discardBody(response);
  if (status >= 200 && status < 300) return "revoked";
  if (status >= 500 || status === 408 || status === 429) return "retry";
  return "unsupported";
}
