/**
 * Reading a token endpoint's answer before oauth4webapi processes it: the
 * body is read with a size cap, the provider's quirks adapt it, failures are
 * classified for the refresh engine (docs/refresh.md), and a success is
 * normalised into the RFC 6749 5.1 shape oauth4webapi checks. The
 * normalisations are the ones every provider gets (quirks.ts
 * `builtInHandling`).
 */
import { fetchFailureKind } from "./fetch-with-timeout.ts";
import { adaptAnswer, type QuirkName, type TokenAnswer } from "./quirks.ts";
import { discardBody, parseJsonObject, readLimitedText } from "./read-json-object.ts";
import { parseRetryAfter } from "./retry-after.ts";

/**
 * A failed token request. Failures carry no provider text beyond a
 * well-formed OAuth error code: error bodies can echo the refresh token (C-43).
 * `invalid_grant` is terminal (re-consent needed), `rejected` means our request
 * or configuration is wrong (alert an operator), `transient` may be retried,
 * `id_token_invalid` means the ID token's claims failed a check.
 */
export interface TokenFailure {
  ok: false;
  kind: "invalid_grant" | "rejected" | "transient" | "id_token_invalid";
  status: number;
  error: string;
  retryAfterSeconds?: number;
}

/** Upper bound of `expires_in` (10 years): larger values are clamped (C-20). */
export const maxExpiresInSeconds = 10 * 365 * 24 * 60 * 60;

/**
 * Reads `response` and runs the answer adapters of `quirks`. Error bodies are
 * read only for their error code: 4xx bodies whatever their content type
 * (many providers mislabel them), transient ones only when labelled JSON
 * (usually they are a proxy's HTML page). Rejects only when the body stream
 * fails (network error, deadline).
 */
export async function readTokenAnswer(response: Response, quirks: readonly QuirkName[]): Promise<TokenAnswer> {
  const { status, headers } = response;
  let text: string | undefined;
  if (isTransientStatus(status) && !/\bjson\b/i.test(headers.get("content-type") ?? "")) {
    await discardBody(response);
  } else {
    text = await readLimitedText(response, status >= 200 && status < 300 ? undefined : 64 * 1024);
  }
  return adaptAnswer(quirks, { status, headers, text, body: parseJsonObject(text) });
}

/** The failure a body that broke off means: nothing wrong with the request, try again later. */
export function brokenBody(status: number, error: unknown): TokenFailure {
  return { ok: false, kind: "transient", status, error: fetchFailureKind(error) === "timeout" ? "timeout" : "network_error" };
}

/**
 * Classifies a non-2xx answer (`now` in ms, for Retry-After dates): 408, 429
 * and 5xx are transient; 400/401 `invalid_grant` is terminal; every other
 * answer is rejected, with its OAuth error code or `http_<status>`.
 */
export function failureOf(answer: TokenAnswer, now: number): TokenFailure {
  const { status, body } = answer;
  const code = typeof body?.error === "string" && /^[a-z_]{1,64}$/.test(body.error) ? body.error : undefined;
  const error = code ?? `http_${status}`;
  if (isTransientStatus(status)) {
    const retryAfterSeconds = parseRetryAfter(answer.headers.get("retry-after"), now);
    return retryAfterSeconds === undefined ? { ok: false, kind: "transient", status, error } : { ok: false, kind: "transient", status, error, retryAfterSeconds };
  }
  if ((status === 400 || status === 401) && code === "invalid_grant") return { ok: false, kind: "invalid_grant", status, error };
  return { ok: false, kind: "rejected", status, error };
}

/** A 2xx that is not a JSON object with a non-empty `access_token` (C-21). */
export function invalidTokenResponse(status: number): TokenFailure {
  return { ok: false, kind: "rejected", status, error: "invalid_token_response" };
}

/**
 * The RFC 6749 5.1 body oauth4webapi is given: `token_type` Bearer when the
 * provider's own is absent or unusual (it is kept as sent in the TokenSet),
 * `expires_in` a number (see {@linkcode expiresInOf}), `scope` a string,
 * an empty or non-string `refresh_token` dropped (the stored one is kept,
 * S-21), and `id_token` only when one was asked for: an ID token nobody
 * asked for is not Nexus's to judge, and must not fail the exchange.
 */
export function normaliseTokenBody(body: Readonly<Record<string, unknown>>, wantIdToken: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { access_token: body.access_token, token_type: "bearer" };
  const expiresIn = expiresInOf(body.expires_in);
  if (expiresIn !== undefined) out.expires_in = expiresIn;
  const scope = scopeOf(body.scope);
  if (scope !== undefined) out.scope = scope;
  if (typeof body.refresh_token === "string" && body.refresh_token !== "") out.refresh_token = body.refresh_token;
  if (wantIdToken && body.id_token !== undefined) out.id_token = body.id_token;
  return out;
}

/** RFC 6749 5.1: token_type is case-insensitive (C-18); a missing one is read as Bearer. */
export function tokenTypeOf(value: unknown): string {
  if (typeof value !== "string" || value.trim() === "" || value.trim().toLowerCase() === "bearer") return "Bearer";
  return value.trim();
}

/** Accepts numbers and numeric strings; <= 0 means expired, huge values are clamped, junk is unknown (C-20). */
export function expiresInOf(value: unknown): number | undefined {
  let seconds: number;
  if (typeof value === "number") seconds = value;
  else if (typeof value === "string" && /^\s*[+-]?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/.test(value)) seconds = Number(value);
  else return undefined;
  if (Number.isNaN(seconds)) return undefined;
  if (seconds <= 0) return 0;
  return Math.min(Math.floor(seconds), maxExpiresInSeconds);
}

/** A granted scope as one space-separated string; a JSON array is joined. */
export function scopeOf(value: unknown): string | undefined {
  if (typeof value === "string") return value.trim().split(/\s+/).filter((s) => s !== "").join(" ");
  if (Array.isArray(value) && value.every((s) => typeof s === "string")) return value.filter((s) => s !== "").join(" ");
  return undefined;
}

function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
