/**
 * Provider quirks: the closed list of named adapters the OAuth core applies
 * around oauth4webapi, so a quirk is a word in a provider's configuration and
 * never a branch in the core flow. A profile names them in
 * `params.quirks` (`["error_in_200", ...]`) and the extra token-response
 * fields to keep in `params.keep_token_fields` (`["instance_url"]`); the
 * domain carries them as `ProviderParams.quirks` and
 * `ProviderParams.keepTokenFields`.
 *
 * What is not here is either handled for every provider (see
 * {@linkcode builtInHandling}) or is already a param: the client
 * authentication method (`token_endpoint_auth_method`), PKCE (`pkce`), the
 * scope separator (`scope_separator`), scope on the authorization request or
 * the exchange (`skip_scope_on_*`), and authorization parameters such as
 * `access_type=offline&prompt=consent`, `token_access_type=offline` or
 * `audience` (`authorize_params`). Tenants and shops are URL placeholders a
 * template fills.
 */
import { invalidArgument } from "../../shared/errors.ts";

/**
 * The quirk names a profile may list, in the order their adapters run
 * (whatever order the profile gives): a form-encoded body is parsed before
 * an error hidden in a 200 is looked for.
 */
export const quirkNames = ["json_request_body", "form_encoded_response", "error_in_200"] as const;

/** One quirk's name. */
export type QuirkName = (typeof quirkNames)[number];

/** A token or revocation request just before it is sent; the client's credentials are already in it. */
export interface OutgoingRequest {
  readonly headers: Headers;
  readonly body: URLSearchParams | string;
}

/**
 * A token endpoint's answer as read (the body capped in size), before
 * oauth4webapi sees it. `body` is the JSON object the text holds, or what an
 * adapter made of the text; `undefined` when there is none.
 */
export interface TokenAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string | undefined;
  readonly body: Readonly<Record<string, unknown>> | undefined;
}

/** What one quirk changes: the outgoing request, the answer, or both. Each is a pure function. */
export interface QuirkAdapter {
  readonly request?: (request: OutgoingRequest) => OutgoingRequest;
  readonly answer?: (answer: TokenAnswer) => TokenAnswer;
}

/**
 * The request body as a JSON object instead of a form (Notion, Atlassian).
 * With `client_secret_post` the client id and secret travel in it; with
 * `client_secret_basic` they stay in the Authorization header.
 */
export function jsonRequestBody(request: OutgoingRequest): OutgoingRequest {
  const form = typeof request.body === "string" ? new URLSearchParams(request.body) : request.body;
  const headers = new Headers(request.headers);
  headers.set("content-type", "application/json");
  return { headers, body: JSON.stringify(Object.fromEntries(form)) };
}

/**
 * Reads an answer whose body is `application/x-www-form-urlencoded` rather
 * than JSON (GitHub when the Accept header is ignored, Facebook's legacy
 * endpoints). Only a form naming `access_token` or `error` is taken, so an
 * HTML page stays an unreadable answer.
 */
export function formEncodedResponse(answer: TokenAnswer): TokenAnswer {
  if (answer.body !== undefined || answer.text === undefined) return answer;
  const text = answer.text.trim();
  if (text === "" || /[\s<>{}]/.test(text)) return answer;
  const form = new URLSearchParams(text);
  if (!form.has("access_token") && !form.has("error")) return answer;
  return { ...answer, body: Object.fromEntries(form) };
}

/**
 * Provider codes that mean the refresh token is dead, as `invalid_grant`
 * means in RFC 6749: GitHub's `bad_refresh_token`, Slack's
 * `invalid_refresh_token`.
 */
const deadRefreshTokenCodes: ReadonlySet<string> = new Set(["bad_refresh_token", "invalid_refresh_token"]);

/**
 * A 2xx whose body has an `error` string or `ok: false` is an error answer
 * (GitHub answers errors with 200 and `error`; Slack with `ok: false`). It
 * becomes a 400 carrying the provider's error code, so it is classified as
 * any other OAuth error, and a dead-refresh-token code becomes
 * `invalid_grant`.
 */
export function errorIn200(answer: TokenAnswer): TokenAnswer {
  const body = answer.body;
  if (answer.status < 200 || answer.status >= 300 || body === undefined) return answer;
  const hasError = typeof body.error === "string" && body.error !== "";
  if (!hasError && body.ok !== false) return answer;
  const code = hasError ? (body.error as string) : "provider_error";
  return { ...answer, status: 400, body: { error: deadRefreshTokenCodes.has(code) ? "invalid_grant" : code } };
}

/** Every quirk's adapter, by name. */
export const quirkAdapters: Readonly<Record<QuirkName, QuirkAdapter>> = Object.freeze({
  json_request_body: { request: jsonRequestBody },
  form_encoded_response: { answer: formEncodedResponse },
  error_in_200: { answer: errorIn200 },
});

/**
 * Quirk families the core handles for every provider, so no profile needs to
 * name them (templates cite them in their notes): the documentation of each
 * is the behaviour the unit and stand-in tests check.
 */
export const builtInHandling: Readonly<Record<string, string>> = Object.freeze({
  accept_json: "every token request sends Accept: application/json (oauth4webapi does), which makes GitHub answer JSON",
  expires_in_string: "expires_in may be a number or a numeric string; junk or absence means no known expiry",
  no_refresh_token_on_refresh: "a refresh answer without refresh_token keeps the stored refresh token",
  rotating_refresh_token: "a refresh answer with a new refresh_token replaces the stored one",
  token_type: "token_type is compared without case and defaults to Bearer; other types (Slack's bot) are kept as sent",
  scope_list: "a granted scope given as a JSON array, or joined by the provider's scope_separator, is read",
  id_token_unrequested: "an ID token in an answer to a request without openid (or without an issuer) is not checked and fails nothing",
});

/** Runs the request adapters of `quirks`, in {@linkcode quirkNames} order. */
export function adaptRequest(quirks: readonly QuirkName[], request: OutgoingRequest): OutgoingRequest {
  return knownQuirks(quirks).reduce((r, name) => quirkAdapters[name].request?.(r) ?? r, request);
}

/** Runs the answer adapters of `quirks`, in {@linkcode quirkNames} order. */
export function adaptAnswer(quirks: readonly QuirkName[], answer: TokenAnswer): TokenAnswer {
  return knownQuirks(quirks).reduce((a, name) => quirkAdapters[name].answer?.(a) ?? a, answer);
}

/** The known quirk names among `names`, in {@linkcode quirkNames} order (a stored provider's are validated when written). */
export function knownQuirks(names: readonly string[]): QuirkName[] {
  return quirkNames.filter((name) => names.includes(name));
}

/**
 * Checks `params.quirks` at registration: a list of known names, each once.
 * Throws `invalid_argument` naming the field and the known names.
 */
export function parseQuirks(value: readonly unknown[], field = "params.quirks"): QuirkName[] {
  const seen = new Set<string>();
  for (const name of value) {
    if (typeof name !== "string" || !(quirkNames as readonly string[]).includes(name)) {
      throw invalidArgument(field, `${JSON.stringify(name)?.slice(0, 64)} is not a known quirk (known: ${quirkNames.join(", ")})`);
    }
    if (seen.has(name)) throw invalidArgument(field, `"${name}" is listed twice`);
    seen.add(name);
  }
  return [...seen] as QuirkName[];
}

/** At most this many kept fields, each value at most {@linkcode maxKeptValueLength} characters. */
export const maxKeptFields = 16;
export const maxKeptValueLength = 4096;

/** Names that reach an object's prototype rather than its data. */
const objectKeys: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** Credential keys Nexus writes itself; a kept field may not shadow them. */
const ownCredentialKeys: ReadonlySet<string> = new Set(["access_token", "token_type", "scope", "expires_in", "id_token"]);

/**
 * Checks `params.keep_token_fields` at registration: names or dotted paths
 * (`authed_user.id`) of token-response fields to expose in the credential.
 * A refresh token, at any depth, is never kept: it must not leave the Broker.
 */
export function parseKeepTokenFields(value: readonly unknown[], field = "params.keep_token_fields"): string[] {
  if (value.length > maxKeptFields) throw invalidArgument(field, `may name at most ${maxKeptFields} fields`);
  const seen = new Set<string>();
  for (const path of value) {
    if (typeof path !== "string" || !/^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$/.test(path)) {
      throw invalidArgument(field, `${JSON.stringify(path)?.slice(0, 80)} is not a field name or dotted path (letters, digits, _ and -)`);
    }
    if (ownCredentialKeys.has(path)) throw invalidArgument(field, `"${path}" is set by Nexus itself`);
    if (path.split(".").some((part) => objectKeys.has(part))) throw invalidArgument(field, `"${path}" names an object internal`);
    if (path.split(".").some((part) => /refresh_token/i.test(part))) {
      throw invalidArgument(field, `"${path}" names a refresh token, which never leaves the Broker`);
    }
    if (seen.has(path)) throw invalidArgument(field, `"${path}" is listed twice`);
    seen.add(path);
  }
  return [...seen];
}

/**
 * The kept fields of a token response, as credential entries keyed by the
 * path given: strings as sent, numbers and booleans as text, objects and
 * arrays as JSON without any refresh token they hold (Slack's `authed_user`
 * carries one when rotation is on). Never throws: a field that is absent, null, too long or
 * not serialisable is left out, so a strange extra can never lose the
 * tokens it came with.
 */
export function keepTokenFields(body: Readonly<Record<string, unknown>>, paths: readonly string[]): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const path of paths) {
    if (path.split(".").some((part) => objectKeys.has(part))) continue;
    let value: unknown = body;
    for (const part of path.split(".")) {
      value = typeof value === "object" && value !== null && !Array.isArray(value) && Object.hasOwn(value, part)
        ? (value as Record<string, unknown>)[part]
        : undefined;
    }
    const text = textOf(value);
    if (text !== undefined && text.length <= maxKeptValueLength) kept[path] = text;
  }
  return kept;
}

function textOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value !== "object" || value === null) return undefined;
  try {
    return JSON.stringify(value, (key, inner: unknown) => (/refresh_token/i.test(key) ? undefined : inner));
  } catch {
    return undefined;
  }
}
