/**
 * The token endpoint (RFC 6749 4.1.3, 6) on oauth4webapi: code exchange and
 * refresh, split into a request step that does I/O and a step that reads and
 * classifies the answer, so tests can feed synthetic Responses to the latter.
 * oauth4webapi builds and authenticates the requests and checks successful
 * answers, the ID token's claims included; token-answer.ts and the provider's
 * quirks adapt what providers really send to what it checks.
 */
import * as oauth from "oauth4webapi";
import { invalidArgument, NexusError } from "../../shared/errors.ts";
import { OutboundRefusedError } from "../domain/outbound-url-policy.ts";
import { joinScopes } from "./authorization-url.ts";
import { clientAuthentication, type ClientCredentials, clientMetadata } from "./client-authentication.ts";
import { type FetchLike, fetchFailureKind } from "./fetch-with-timeout.ts";
import { idTokenAlgorithms, idTokenClockToleranceSeconds } from "./id-token.ts";
import { providerHttp } from "./provider-http.ts";
import { keepTokenFields, type QuirkName } from "./quirks.ts";
import { jsonResponse } from "./read-json-object.ts";
import {
  brokenBody,
  failureOf,
  invalidTokenResponse,
  normaliseTokenBody,
  readTokenAnswer,
  type TokenFailure,
  tokenTypeOf,
} from "./token-answer.ts";

export { maxExpiresInSeconds } from "./token-answer.ts";

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
  /** The provider's quirks (`params.quirks`). */
  quirks?: readonly QuirkName[];
}

/** Options of {@linkcode requestToken}. */
export interface TokenRequestOptions {
  fetch: FetchLike;
  signal?: AbortSignal;
  /** Deadline of the request (default 15 s). */
  timeoutMs?: number;
}

/** What reading an answer checks and keeps besides the RFC 6749 fields. */
export interface TokenProcessing {
  quirks?: readonly QuirkName[];
  /** `params.keep_token_fields`: extra fields exposed in the credential. */
  keepTokenFields?: readonly string[];
  /**
   * Set when the authorization request carried a nonce: the answer must hold
   * an ID token whose claims match (OIDC Core 3.1.3.7). Its signature is
   * checked after, by id-token.ts.
   */
  idToken?: { issuer: string; clientId: string; nonce: string };
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
  /** The fields `params.keep_token_fields` names, as credential entries; absent when none was found. */
  kept?: Readonly<Record<string, string>>;
}

/** The outcome of a token request; see token-answer.ts for the failure kinds. */
export type TokenResult = { ok: true; tokens: TokenSet } | TokenFailure;

/**
 * POSTs `grant` to the token endpoint with client authentication, through
 * oauth4webapi. Resolves with whatever HTTP response arrives (any status);
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
  // oauth4webapi wants an issuer; a provider without one is named by its token endpoint's origin.
  const as: oauth.AuthorizationServer = { issuer: url.origin, token_endpoint: url.href };
  const metadata = clientMetadata(client.clientId);
  const scopes = grant.scopes !== undefined && grant.scopes.length > 0 ? { scope: joinScopes(grant.scopes, client.scopeSeparator) } : undefined;
  const http = providerHttp(url, { fetch: options.fetch, signal: options.signal, timeoutMs: options.timeoutMs ?? 15_000, quirks: client.quirks ?? [] });
  const request = { ...http, ...(scopes === undefined ? {} : { additionalParameters: scopes }) };
  if (grant.type === "refresh_token") {
    if (grant.refreshToken === "") throw invalidArgument("refresh_token", "must not be empty");
    return oauth.refreshTokenGrantRequest(as, metadata, clientAuthentication(client), grant.refreshToken, request);
  }
  if (grant.code === "") throw invalidArgument("code", "must not be empty");
  if (grant.codeVerifier === "") throw invalidArgument("code_verifier", "must not be empty");
  // The callback checked state and iss already; this only hands oauth4webapi the code in the form it takes.
  const callback = oauth.validateAuthResponse(as, metadata, new URLSearchParams({ code: grant.code }), oauth.skipStateCheck);
  return oauth.authorizationCodeGrantRequest(as, metadata, clientAuthentication(client), callback, grant.redirectUri, grant.codeVerifier ?? oauth.nopkce, request);
}

/**
 * Reads and classifies a token endpoint answer (`now` in ms, for Retry-After
 * dates and ID token times). A 2xx holding a JSON object with a non-empty
 * `access_token`, after the provider's quirks, is checked by oauth4webapi;
 * 400/401 `invalid_grant` is terminal; 408, 429 and 5xx are transient; every
 * other answer, including a 200 that is not JSON or lacks `access_token`
 * (`invalid_token_response`, C-21), is rejected.
 */
export async function processTokenResponse(response: Response, now: number, processing: TokenProcessing = {}): Promise<TokenResult> {
  let answer;
  try {
    answer = await readTokenAnswer(response, processing.quirks ?? []);
  } catch (error) {
    return brokenBody(response.status, error);
  }
  const { status, body } = answer;
  if (status < 200 || status >= 300) return failureOf(answer, now);
  if (body === undefined || typeof body.access_token !== "string" || body.access_token === "") return invalidTokenResponse(status);
  const expect = processing.idToken;
  let checked: oauth.TokenEndpointResponse;
  try {
    checked = await checkTokenBody(normaliseTokenBody(body, expect !== undefined), expect, now);
  } catch {
    return expect === undefined ? invalidTokenResponse(status) : { ok: false, kind: "id_token_invalid", status, error: "id_token_invalid" };
  }
  const tokens: TokenSet = { accessToken: checked.access_token, tokenType: tokenTypeOf(body.token_type) };
  if (checked.expires_in !== undefined) tokens.expiresIn = checked.expires_in;
  if (checked.refresh_token !== undefined) tokens.refreshToken = checked.refresh_token;
  if (checked.scope !== undefined) tokens.scope = checked.scope;
  // An ID token nobody asked for is passed on unchecked, and never relied on.
  const idToken = expect === undefined ? body.id_token : checked.id_token;
  if (typeof idToken === "string" && idToken !== "") tokens.idToken = idToken;
  const kept = keepTokenFields(body, processing.keepTokenFields ?? []);
  if (Object.keys(kept).length > 0) tokens.kept = kept;
  return { ok: true, tokens };
}

/**
 * oauth4webapi's check of a normalised body: the RFC 6749 5.1 fields and,
 * when an ID token is expected, its claims: iss, aud, azp, exp (with the
 * leeway of id-token.ts), iat, sub, nonce, and an asymmetric alg.
 */
function checkTokenBody(body: Record<string, unknown>, expect: TokenProcessing["idToken"], now: number): Promise<oauth.TokenEndpointResponse> {
  if (expect === undefined) {
    return oauth.processGenericTokenEndpointResponse({ issuer: "urn:nexus:no-issuer" }, clientMetadata("nexus"), jsonResponse(body));
  }
  const as: oauth.AuthorizationServer = { issuer: expect.issuer, id_token_signing_alg_values_supported: idTokenAlgorithms };
  const client: oauth.Client = {
    client_id: expect.clientId,
    // oauth4webapi reads the real clock; the skew makes it read ours.
    [oauth.clockSkew]: Math.floor(now / 1000) - Math.floor(Date.now() / 1000),
    [oauth.clockTolerance]: idTokenClockToleranceSeconds,
  };
  return oauth.processAuthorizationCodeResponse(as, client, jsonResponse(body), { expectedNonce: expect.nonce, requireIdToken: true });
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
  options: TokenRequestOptions & { now: () => number } & Omit<TokenProcessing, "quirks">,
): Promise<TokenResult> {
  let response: Response;
  try {
    response = await requestToken(client, grant, options);
  } catch (error) {
    const kind = fetchFailureKind(error, options.signal);
    // The outbound-URL policy refused the endpoint (at call or connect time), or oauth4webapi refused plain
    // http to a host that is not loopback: nothing was sent, and the provider's configuration must change.
    if (error instanceof OutboundRefusedError || isInsecureRefusal(error)) return { ok: false, kind: "rejected", status: 0, error: "outbound_refused" };
    if (kind === "aborted" || error instanceof NexusError) throw error;
    return { ok: false, kind: "transient", status: 0, error: kind };
  }
  return processTokenResponse(response, options.now(), {
    quirks: client.quirks ?? [],
    ...(options.keepTokenFields === undefined ? {} : { keepTokenFields: options.keepTokenFields }),
    ...(options.idToken === undefined ? {} : { idToken: options.idToken }),
  });
}

/** oauth4webapi's refusal of a non-https URL (it checks before sending anything). */
export function isInsecureRefusal(error: unknown): boolean {
  return error instanceof oauth.OperationProcessingError && (error.code === oauth.HTTP_REQUEST_FORBIDDEN || error.code === oauth.REQUEST_PROTOCOL_FORBIDDEN);
}
