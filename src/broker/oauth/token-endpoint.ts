/**
 * The token endpoint (RFC 6749 4.1.3, 6): code exchange and refresh, split
 * into a request step that does I/O and a pure step that classifies the
 * response, so tests can feed synthetic Responses to the latter.
 */
import { invalidArgument, NexusError } from "../../shared/errors.ts";
import { OutboundRefusedError } from "../domain/outbound-url-policy.ts";
import { joinScopes } from "./authorization-url.ts";
import { applyClientAuthentication, type ClientCredentials } from "./client-authentication.ts";
import { type FetchLike, fetchFailureKind, fetchWithTimeout } from "./fetch-with-timeout.ts";
import { discardBody, readJsonObject } from "./read-json-object.ts";
import { parseRetryAfter } from "./retry-after.ts";

/** What is traded for tokens. */
export type TokenGrant =
  | { type: "authorization_code"; code: string; redirectUri: string; codeVerifier?: string; scopes?: readonly string[] }
  | { type: "refresh_token"; refreshToken: string; scopes?: readonly string[] };

/** A client at one provider's token endpoint. */
export interface TokenClient extends ClientCredentials {
  /** Already checked with the outbound-URL policy (`checkOutboundUrl`). */
  tokenEndpoint: string;
  /** Joins `grant.scopes` (default a space). */
  scopeSeparator?: string;
}

/** Options of {@linkcode requestToken}. */
export interface TokenRequestOptions {
  fetch: FetchLike;
  signal?: AbortSignal;
  /** Deadline of the request (default 15 s). */
  timeoutMs?: number;
}

/** A successful token response, normalised. */
export interface TokenSet {
  accessToken: string;
  /** "Bearer" whatever its case on the wire, or the provider's other type as sent. */
  tokenType: string;
  /** Seconds; 0 means already expired; at most 10 years; absent when the provider did not say. */
  expiresIn?: number;
  refreshToken?: string;
  /** The granted scopes, space-separated as received (arrays are joined). */
  scope?: string;
  idToken?: string;
}

/**
 * The outcome of a token request. Failures carry no provider text beyond a
 * well-formed OAuth error code: error bodies can echo the refresh token (C-43).
 * `invalid_grant` is terminal (re-consent needed), `rejected` means our request
 * or configuration is wrong (alert an operator), `transient` may be retried.
 */
export type TokenResult =
  | { ok: true; tokens: TokenSet }
  | { ok: false; kind: "invalid_grant" | "rejected" | "transient"; status: number; error: string; retryAfterSeconds?: number };

/** Upper bound of `expires_in` (10 years): larger values are clamped (C-20). */
export const maxExpiresInSeconds = 10 * 365 * 24 * 60 * 60;

/**
 * POSTs `grant` to the token endpoint, form-encoded, with client
 * authentication. Resolves with whatever HTTP response arrives (any status);
 * rejects on network failure, timeout (a `TimeoutError`) or the caller's abort.
 * Throws `invalid_argument` for an empty code, verifier or refresh token.
 */
export async function requestToken(client: TokenClient, grant: TokenGrant, options: TokenRequestOptions): Promise<Response> {
  let url: URL;
  try {
    url = new URL(client.tokenEndpoint);
  } catch {
    throw invalidArgument("token_url", `"${client.tokenEndpoint}" is not an absolute URL`);
  }
  const body = new URLSearchParams();
  if (grant.type === "authorization_code") {
    if (grant.code === "") throw invalidArgument("code", "must not be empty");
    body.set("grant_type", "authorization_code");
    body.set("code", grant.code);
    body.set("redirect_uri", grant.redirectUri);
    if (grant.codeVerifier !== undefined) {
      if (grant.codeVerifier === "") throw invalidArgument("code_verifier", "must not be empty");
      body.set("code_verifier", grant.codeVerifier);
    }
  } else {
    if (grant.refreshToken === "") throw invalidArgument("refresh_token", "must not be empty");
    body.set("grant_type", "refresh_token");
    body.set("refresh_token", grant.refreshToken);
  }
  if (grant.scopes !== undefined && grant.scopes.length > 0) body.set("scope", joinScopes(grant.scopes, client.scopeSeparator));
  const headers = new Headers({
    accept: "application/json",
    "content-type": "application/x-www-form-urlencoded;charset=UTF-8",
  });
  applyClientAuthentication(client, headers, body);
  return fetchWithTimeout(options.fetch, url, { method: "POST", headers, body }, { signal: options.signal, timeoutMs: options.timeoutMs ?? 15_000 });
}

/**
 * Classifies a token endpoint response (`now` in ms, for Retry-After dates):
 * 2xx with a JSON object holding a non-empty `access_token` is success;
 * 400/401 `invalid_grant` is terminal; 408, 429 and 5xx are transient; every
 * other answer, including a 200 that is not JSON or lacks `access_token`
 * (`invalid_token_response`, C-21), is rejected.
 */
export async function processTokenResponse(response: Response, now: number): Promise<TokenResult> {
  const status = response.status;
  let body: Record<string, unknown> | undefined;
  try {
    body = await readBody(response);
  } catch (error) {
    // The body broke off (deadline, reset): nothing wrong with the request, try again later.
    const kind = fetchFailureKind(error);
    return { ok: false, kind: "transient", status, error: kind === "timeout" ? "timeout" : "network_error" };
  }
  if (status >= 200 && status < 300) {
    if (body === undefined || typeof body.access_token !== "string" || body.access_token === "") {
      return { ok: false, kind: "rejected", status, error: "invalid_token_response" };
    }
    return { ok: true, tokens: tokenSetOf(body, body.access_token) };
  }
  const transient = isTransientStatus(status);
  const code = typeof body?.error === "string" && /^[a-z_]{1,64}$/.test(body.error) ? body.error : undefined;
  const error = code ?? `http_${status}`;
  if (transient) {
    const retryAfterSeconds = parseRetryAfter(response.headers.get("retry-after"), now);
    return retryAfterSeconds === undefined
      ? { ok: false, kind: "transient", status, error }
      : { ok: false, kind: "transient", status, error, retryAfterSeconds };
  }
  if ((status === 400 || status === 401) && code === "invalid_grant") return { ok: false, kind: "invalid_grant", status, error };
  return { ok: false, kind: "rejected", status, error };
}

/**
 * {@linkcode requestToken} then {@linkcode processTokenResponse}. Never
 * rejects for provider trouble: network failures and timeouts become
 * `{ ok: false, kind: "transient", status: 0, error: "network_error" | "timeout" }`,
 * and an endpoint the outbound-URL policy refuses becomes
 * `{ ok: false, kind: "rejected", status: 0, error: "outbound_refused" }`.
 * The caller's own abort still rejects with its reason, since nobody waits
 * for the result any more. Input errors still throw `invalid_argument`.
 */
export async function exchangeToken(
  client: TokenClient,
  grant: TokenGrant,
  options: TokenRequestOptions & { now: () => number },
): Promise<TokenResult> {
  let response: Response;
  try {
    response = await requestToken(client, grant, options);
  } catch (error) {
    const kind = fetchFailureKind(error, options.signal);
    // The outbound-URL policy refused the endpoint (at call or connect time): nothing was sent, and the
    // provider's configuration must change before a retry can help.
    if (error instanceof OutboundRefusedError) return { ok: false, kind: "rejected", status: 0, error: "outbound_refused" };
    if (kind === "aborted" || error instanceof NexusError) throw error;
    return { ok: false, kind: "transient", status: 0, error: kind };
  }
  return processTokenResponse(response, options.now());
}

function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * The JSON object of a response, or `undefined`. Error bodies are read only for
 * their error code: 4xx bodies whatever their content type (many providers
 * mislabel them), transient ones only when labelled JSON (usually they are a
 * proxy's HTML page).
 */
async function readBody(response: Response): Promise<Record<string, unknown> | undefined> {
  const status = response.status;
  if (status >= 200 && status < 300) return readJsonObject(response);
  if (isTransientStatus(status) && !/\bjson\b/i.test(response.headers.get("content-type") ?? "")) {
    await discardBody(response);
    return undefined;
  }
  return readJsonObject(response, 64 * 1024);
}

function tokenSetOf(body: Record<string, unknown>, accessToken: string): TokenSet {
  const tokens: TokenSet = { accessToken, tokenType: tokenTypeOf(body.token_type) };
  const expiresIn = expiresInOf(body.expires_in);
  if (expiresIn !== undefined) tokens.expiresIn = expiresIn;
  if (typeof body.refresh_token === "string" && body.refresh_token !== "") tokens.refreshToken = body.refresh_token;
  const scope = scopeOf(body.scope);
  if (scope !== undefined) tokens.scope = scope;
  if (typeof body.id_token === "string" && body.id_token !== "") tokens.idToken = body.id_token;
  return tokens;
}

/** RFC 6749 5.1: token_type is case-insensitive (C-18); a missing one is read as Bearer. */
function tokenTypeOf(value: unknown): string {
  if (typeof value !== "string" || value.trim() === "" || value.trim().toLowerCase() === "bearer") return "Bearer";
  return value.trim();
}

/** Accepts numbers and numeric strings; <= 0 means expired, huge values are clamped, junk is unknown (C-20). */
function expiresInOf(value: unknown): number | undefined {
  let seconds: number;
  if (typeof value === "number") seconds = value;
  else if (typeof value === "string" && /^\s*[+-]?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/.test(value)) seconds = Number(value);
  else return undefined;
  if (Number.isNaN(seconds)) return undefined;
  if (seconds <= 0) return 0;
  return Math.min(Math.floor(seconds), maxExpiresInSeconds);
}

function scopeOf(value: unknown): string | undefined {
  if (typeof value === "string") return value.trim().split(/\s+/).filter((s) => s !== "").join(" ");
  if (Array.isArray(value) && value.every((s) => typeof s === "string")) return value.filter((s) => s !== "").join(" ");
  return undefined;
}
