/**
 * Builds the authorization request URL (RFC 6749 4.1.1, RFC 7636, OIDC Core
 * 3.1.2.1) a browser is sent to.
 */
import { invalidArgument } from "../../shared/errors.ts";
import { pkceMethod } from "./pkce.ts";
import { inputPatterns } from "../../shared/input-rules.ts";

/** Input of {@linkcode buildAuthorizationUrl}. */
export interface AuthorizationUrlInput {
  /** The provider's endpoint, already checked with `checkOutboundUrl`; its own query is kept. */
  authorizationEndpoint: string;
  clientId: string;
  /** Must be byte-equal to the one sent to the token endpoint later (S-06). */
  redirectUri: string;
  scopes: readonly string[];
  /** Joins scopes (default a space); some providers want a comma. */
  scopeSeparator?: string;
  /** Leave `scope` out entirely (`params.skip_scope_on_authorize`). */
  skipScope?: boolean;
  state: string;
  /** The S256 challenge; absent only when the provider has `pkce: false`. */
  codeChallenge?: string;
  /** OIDC nonce, sent when `openid` is requested. */
  nonce?: string;
  /** `params.authorize_params`; may not name a reserved parameter. */
  extraParams?: Readonly<Record<string, string>>;
}

/**
 * Parameters Nexus sets itself, in lowercase. Extra parameters may not
 * override them: the upstream broker let `params` replace client_id,
 * redirect_uri or state. The response_mode and JAR (`request`, `request_uri`)
 * names are reserved too, because each can redirect or reshape the response
 * Nexus's callback expects. Every comparison with them ignores case.
 */
export const reservedAuthorizeParams: readonly string[] = Object.freeze([
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
  "nonce",
  "response_mode",
  "request",
  "request_uri",
]);

/**
 * Throws NexusError `invalid_argument` (field `params.authorize_params`) when
 * `params` names a reserved parameter (compared case-insensitively, since some
 * servers fold case), names one parameter twice in different cases, or has an
 * empty name or a non-string value. Registration calls this so a bad profile
 * is refused up front.
 */
export function assertExtraParamsAllowed(params: Readonly<Record<string, unknown>>): void {
  const field = "params.authorize_params";
  const seen = new Set<string>();
  for (const [key, value] of Object.entries(params)) {
    if (key === "") throw invalidArgument(field, "parameter names must not be empty");
    const folded = key.toLowerCase();
    if (reservedAuthorizeParams.includes(folded)) {
      throw invalidArgument(field, `"${key}" is set by Nexus and cannot be overridden`);
    }
    if (seen.has(folded)) throw invalidArgument(field, `"${key}" is given twice (names are compared without regard to case)`);
    seen.add(folded);
    if (typeof value !== "string") throw invalidArgument(field, `the value of "${key}" must be a string`);
  }
}

/**
 * Joins scopes with `separator` after checking each is a non-empty RFC 6749
 * scope token without whitespace or the separator. Duplicates are dropped,
 * order is kept. Throws `invalid_argument` (field `scopes`).
 */
export function joinScopes(scopes: readonly string[], separator = " "): string {
  if (separator === "") throw invalidArgument("params.scope_separator", "must not be empty");
  for (const scope of scopes) {
    // RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
    if (!inputPatterns.scope.test(scope) || scope.includes(separator)) {
      throw invalidArgument("scopes", `"${scope}" is not a valid scope`);
    }
  }
  return [...new Set(scopes)].join(separator);
}

/**
 * Returns the authorization URL. Spaces are encoded as `%20`, never `+`, which
 * some providers do not decode in `scope`. `scope` is omitted when there are
 * no scopes or `skipScope` is set (never `scope=`).
 */
export function buildAuthorizationUrl(input: AuthorizationUrlInput): string {
  let url: URL;
  try {
    url = new URL(input.authorizationEndpoint);
  } catch {
    throw invalidArgument("auth_url", `"${input.authorizationEndpoint}" is not an absolute URL`);
  }
  for (const [name, value] of [["client_id", input.clientId], ["redirect_uri", input.redirectUri], ["state", input.state]] as const) {
    if (value === "") throw invalidArgument(name, "must not be empty");
  }
  const extra = input.extraParams ?? {};
  assertExtraParamsAllowed(extra);

  const ours: Array<[string, string]> = [["response_type", "code"], ["client_id", input.clientId], ["redirect_uri", input.redirectUri]];
  if (input.skipScope !== true && input.scopes.length > 0) ours.push(["scope", joinScopes(input.scopes, input.scopeSeparator)]);
  ours.push(["state", input.state]);
  if (input.codeChallenge !== undefined) {
    if (input.codeChallenge === "") throw invalidArgument("code_challenge", "must not be empty");
    ours.push(["code_challenge", input.codeChallenge], ["code_challenge_method", pkceMethod]);
  }
  if (input.nonce !== undefined) {
    if (input.nonce === "") throw invalidArgument("nonce", "must not be empty");
    ours.push(["nonce", input.nonce]);
  }

  // The endpoint's own parameters are kept, except those ours or the extras replace. Names are
  // compared without case, as assertExtraParamsAllowed does: some servers fold case, so a kept
  // `Client_ID` or `STATE` could stand in for ours.
  const replaced = new Set([...reservedAuthorizeParams, ...Object.keys(extra).map((k) => k.toLowerCase())]);
  const kept = [...url.searchParams].filter(([key]) => !replaced.has(key.toLowerCase()));
  const pairs = [...kept, ...ours, ...Object.entries(extra)];
  url.search = pairs.map(([key, value]) => `${encodeComponent(key)}=${encodeComponent(value)}`).join("&");
  return url.href;
}

/** encodeURIComponent plus the sub-delims it leaves alone, so values survive any query parser. */
function encodeComponent(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
