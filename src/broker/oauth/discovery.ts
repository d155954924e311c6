/**
 * OpenID Connect Discovery 1.0 on oauth4webapi: fetches and validates an
 * issuer's `/.well-known/openid-configuration`, caching successes for a
 * while. oauth4webapi builds the request and parses the document; Nexus adds
 * what its threat model asks (security.md S-17, S-28, C-58): an issuer
 * compared byte for byte, a size cap, every endpoint through the
 * outbound-URL policy, and failures told apart for retrying.
 */
import * as oauth from "oauth4webapi";
import { invalidArgument, NexusError } from "../../shared/errors.ts";
import { checkOutboundUrl, outboundUrlRefusal } from "../domain/outbound-url-policy.ts";
import { type FetchLike, fetchFailureKind } from "./fetch-with-timeout.ts";
import { providerHttp } from "./provider-http.ts";
import { discardBody, jsonResponse, readJsonObject } from "./read-json-object.ts";
import { parseRetryAfter } from "./retry-after.ts";

/** The parts of a discovery document Nexus uses, validated. */
export interface ProviderMetadata {
  /** Byte-equal to the configured issuer (S-17). */
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
  userinfoEndpoint: string | undefined;
  revocationEndpoint: string | undefined;
  /** As listed; `undefined` when absent, which RFC 8414 reads as `["client_secret_basic"]`. */
  tokenEndpointAuthMethodsSupported: readonly string[] | undefined;
  /** RFC 9207: when true, a callback without `iss` must be rejected (S-10). */
  authorizationResponseIssParameterSupported: boolean;
  /** As listed; PKCE is sent regardless (S-02). */
  codeChallengeMethodsSupported: readonly string[] | undefined;
}

/** Options of {@linkcode createDiscovery}. */
export interface DiscoveryOptions {
  fetch: FetchLike;
  /** The clock, ms since the epoch. */
  now: () => number;
  /** How long a document is reused (default 1 hour); a shorter `Cache-Control: max-age` wins. */
  ttlMs?: number;
  /** Per-request deadline (default 10 s). */
  timeoutMs?: number;
  /** Accept loopback endpoints, over http too (`ALLOW_HTTP_LOOPBACK_PROVIDERS`: tests and local development only). */
  allowInsecureLoopback?: boolean;
}

/** Fetches provider metadata. */
export interface Discovery {
  /**
   * Returns the validated metadata of `issuer`, from cache when fresh. Throws
   * NexusError `provider_unavailable` (network, timeout, 5xx, 429) or
   * `invalid_argument` with field `issuer` (bad issuer or document). Failures
   * are never cached.
   */
  discover(issuer: string, signal?: AbortSignal): Promise<ProviderMetadata>;
}

/** Creates a discovery client with its own cache. */
export function createDiscovery(options: DiscoveryOptions): Discovery {
  const ttlMs = options.ttlMs ?? 60 * 60 * 1000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const allowLoopback = options.allowInsecureLoopback ?? false;
  const cache = new Map<string, { metadata: ProviderMetadata; expiresAt: number }>();

  const discover = async (issuer: string, signal?: AbortSignal): Promise<ProviderMetadata> => {
    const cached = cache.get(issuer);
    if (cached !== undefined && options.now() < cached.expiresAt) return cached.metadata;
    cache.delete(issuer);
    // Validated before any request is made (C-58).
    const url = discoveryUrl(issuer, allowLoopback);
    let response: Response;
    try {
      // oauth4webapi derives the same URL from the issuer (OIDC Discovery 4).
      response = await oauth.discoveryRequest(new URL(issuer), providerHttp(url, { fetch: options.fetch, signal, timeoutMs }));
    } catch (error) {
      const kind = fetchFailureKind(error, signal);
      if (kind === "aborted") throw error;
      // The outbound policy refused the connection (a DNS answer on a refused address): the issuer is at fault, not the network.
      if (error instanceof NexusError) throw invalidArgument("issuer", error.message);
      const what = kind === "timeout" ? `timed out after ${timeoutMs} ms` : "failed (network error)";
      throw new NexusError("provider_unavailable", `Discovery request to ${url.href} ${what}`, { cause: error });
    }
    const metadata = await processDiscoveryResponse(response, issuer, { allowInsecureLoopback: allowLoopback, now: options.now() });
    const lifetime = Math.min(ttlMs, cacheLifetimeMs(response.headers.get("cache-control")) ?? ttlMs);
    if (lifetime > 0) cache.set(issuer, { metadata, expiresAt: options.now() + lifetime });
    return metadata;
  };

  return { discover };
}

/**
 * The discovery URL of `issuer`: `<issuer without trailing slash>/.well-known/openid-configuration`.
 * Throws `invalid_argument` (field `issuer`) for an issuer that is unsafe or has a query or fragment.
 */
export function discoveryUrl(issuer: string, allowInsecureLoopback: boolean): URL {
  const url = checkOutboundUrl(issuer, "issuer", { allowLoopback: allowInsecureLoopback });
  if (url.search !== "" || issuer.includes("?")) throw invalidArgument("issuer", `"${issuer}" must not contain a query`);
  url.pathname = `${url.pathname.replace(/\/$/, "")}/.well-known/openid-configuration`;
  return url;
}

/**
 * Validates a discovery response for `issuer` (no I/O beyond reading the body).
 * Every endpoint it names passes the outbound-URL policy; they may be on
 * other hosts than the issuer (Google's are), each judged on its own.
 * `now` (ms) is used to read `Retry-After` dates.
 */
export async function processDiscoveryResponse(
  response: Response,
  issuer: string,
  options: { allowInsecureLoopback: boolean; now: number },
): Promise<ProviderMetadata> {
  const where = `discovery document of ${issuer}`;
  if (response.status >= 500 || response.status === 429 || response.status === 408) {
    await discardBody(response);
    const retryAfterSeconds = parseRetryAfter(response.headers.get("retry-after"), options.now);
    throw new NexusError("provider_unavailable", `Fetching the ${where} failed with HTTP ${response.status}`, { retryAfterSeconds });
  }
  if (response.status !== 200) {
    await discardBody(response);
    const note = response.status >= 300 && response.status < 400 ? " (redirects are not followed)" : "";
    throw invalidArgument("issuer", `fetching the ${where} answered HTTP ${response.status}${note}`);
  }
  let doc: Record<string, unknown> | undefined;
  try {
    doc = await readJsonObject(response);
  } catch (error) {
    throw new NexusError("provider_unavailable", `Reading the ${where} failed (network error or timeout)`, { cause: error });
  }
  if (doc === undefined) throw invalidArgument("issuer", `the ${where} is not a JSON object`);
  if (doc.issuer !== issuer) {
    // Exact comparison, no normalisation (S-17): "https://a/" and "https://a" differ, which oauth4webapi lets pass.
    const got = typeof doc.issuer === "string" ? `"${doc.issuer.slice(0, 200)}"` : "no issuer";
    throw invalidArgument("issuer", `the ${where} names ${got}, which does not equal the configured issuer`);
  }
  try {
    doc = await oauth.processDiscoveryResponse(new URL(issuer), jsonResponse(doc));
  } catch {
    throw invalidArgument("issuer", `the ${where} is not valid authorization server metadata`);
  }
  const optional = (name: string): string | undefined => {
    const value = doc[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || value === "") throw invalidArgument("issuer", `the ${where} has an invalid ${name}`);
    const refused = outboundUrlRefusal(value, { allowLoopback: options.allowInsecureLoopback });
    if (refused !== undefined) throw invalidArgument("issuer", `the ${where} has an unacceptable ${name}: "${value.slice(0, 200)}" ${refused}`);
    return value;
  };
  const required = (name: string): string => {
    const value = optional(name);
    if (value === undefined) throw invalidArgument("issuer", `the ${where} has no ${name}`);
    return value;
  };
  return {
    issuer,
    authorizationEndpoint: required("authorization_endpoint"),
    tokenEndpoint: required("token_endpoint"),
    jwksUri: required("jwks_uri"),
    userinfoEndpoint: optional("userinfo_endpoint"),
    revocationEndpoint: optional("revocation_endpoint"),
    tokenEndpointAuthMethodsSupported: stringList(doc, "token_endpoint_auth_methods_supported", where),
    authorizationResponseIssParameterSupported: doc.authorization_response_iss_parameter_supported === true,
    codeChallengeMethodsSupported: stringList(doc, "code_challenge_methods_supported", where),
  };
}

/**
 * The client authentication Nexus uses by default with a discovered provider:
 * the first of client_secret_basic / client_secret_post the document lists,
 * client_secret_basic when it lists nothing (RFC 8414 default), `undefined`
 * when it lists only methods Nexus does not implement.
 */
export function selectTokenEndpointAuthMethod(
  supported: readonly string[] | undefined,
): "client_secret_basic" | "client_secret_post" | undefined {
  if (supported === undefined) return "client_secret_basic";
  return supported.find((m): m is "client_secret_basic" | "client_secret_post" => m === "client_secret_basic" || m === "client_secret_post");
}

function stringList(doc: Record<string, unknown>, name: string, where: string): readonly string[] | undefined {
  const value = doc[name];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw invalidArgument("issuer", `the ${where} has an invalid ${name} (not a list of strings)`);
  }
  return Object.freeze([...(value as string[])]);
}

/** Lifetime allowed by Cache-Control in ms: 0 for no-store/no-cache, `undefined` when it says nothing. */
function cacheLifetimeMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const directives = header.toLowerCase().split(",").map((d) => d.trim());
  if (directives.includes("no-store") || directives.includes("no-cache")) return 0;
  for (const directive of directives) {
    const match = /^max-age\s*=\s*"?(\d+)"?$/.exec(directive);
    if (match !== null) return Number(match[1]) * 1000;
  }
  return undefined;
}
