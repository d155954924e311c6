/**
 * The one outbound-URL policy (security.md S-28, C-58): every URL the Broker
 * will call (issuer, discovery results, authorize, token, revocation, JWKS,
 * userinfo, api_base_url, user_info_endpoint) passes these rules, at
 * registration and again right before each request; the Node runtime applies
 * {@linkcode addressRefusal} to every address DNS gives at connect time.
 * Endpoints come from operators and from discovery documents, both untrusted:
 * a token endpoint on a metadata service would turn the Broker into an SSRF
 * proxy carrying client secrets.
 */
import { invalidArgument, NexusError } from "../../shared/errors.ts";
import { type AddressClass, classifyIpAddress } from "./ip-address.ts";

/** What the policy allows beyond public https. */
export interface OutboundPolicy {
  /**
   * `ALLOW_HTTP_LOOPBACK_PROVIDERS`: loopback hosts and addresses, over http
   * or https (development and tests). Never private, link-local or metadata.
   */
  readonly allowLoopback: boolean;
}

/**
 * A request refused by the policy right before it would have been sent, or at
 * connect time for a DNS answer: the provider's configuration is at fault,
 * nothing reached the network, and retrying will not help. An
 * `invalid_argument` NexusError, so callers that pass NexusErrors on keep
 * doing so; the token endpoint reports it as a `rejected` answer.
 */
export class OutboundRefusedError extends NexusError {
  constructor(message: string) {
    super("invalid_argument", message);
    this.name = "OutboundRefusedError";
  }
}

// Names that reach instance metadata services without looking like an address.
const metadataNames = new Set([
  "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal", "metadata.tencentyun.com",
]);

const refusals: Record<Exclude<AddressClass, "public">, string> = {
  loopback: "a loopback address, allowed only in development (ALLOW_HTTP_LOOPBACK_PROVIDERS)",
  embedded_loopback: "a loopback address in an IPv6 form (IPv4-mapped, NAT64, 6to4...), never allowed",
  private: "a private network address",
  link_local: "a link-local address",
  shared: "a carrier-grade NAT address (100.64.0.0/10)",
  unspecified: "an unspecified address",
  multicast: "a multicast address",
  broadcast: "a broadcast address",
  metadata: "a cloud metadata service",
  reserved: "a reserved, non-routable address",
};

/** Why an address of this class may not be called, or `undefined` when it may. */
export function addressRefusal(kind: AddressClass, policy: OutboundPolicy): string | undefined {
  if (kind === "public" || (kind === "loopback" && policy.allowLoopback)) return undefined;
  return refusals[kind];
}

/**
 * The class of a URL host as `URL.hostname` gives it: an IP literal's class,
 * or for a name `loopback` (localhost, *.localhost), `metadata`, `private`
 * (*.internal, *.home.arpa), `link_local` (*.local, mDNS) or `public`, which
 * for a name means "decided when DNS answers". Trailing dots are ignored.
 */
export function classifyHost(hostname: string): AddressClass {
  const host = hostname.toLowerCase().replace(/\.+$/, "");
  const ip = classifyIpAddress(host);
  if (ip !== undefined) return ip;
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback";
  if (metadataNames.has(host)) return "metadata";
  if (host.endsWith(".internal") || host.endsWith(".home.arpa")) return "private";
  if (host.endsWith(".local")) return "link_local";
  return "public";
}

/**
 * Why `url` may not be called, or `undefined` when it may: http(s) only, https
 * unless the host is loopback and loopback is allowed, no user credentials,
 * fragment, backslash or control character, and a host the policy allows.
 */
export function outboundUrlRefusal(url: string | URL, policy: OutboundPolicy): string | undefined {
  const raw = String(url);
  // Checked on the raw text: the WHATWG parser drops tabs and newlines and reads `\` as `/`.
  if (/[\u0000-\u0020\u007f\\]/u.test(raw)) return "must not contain backslashes, spaces or control characters";
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    return "is not an absolute URL";
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return `must use https (scheme ${parsed.protocol} is not allowed)`;
  if (parsed.username !== "" || parsed.password !== "" || /^[a-z]+:\/*[^/?#]*@/i.test(raw)) return "must not contain user credentials";
  if (raw.includes("#")) return "must not contain a fragment";
  const kind = classifyHost(parsed.hostname);
  const refused = addressRefusal(kind, policy);
  if (refused !== undefined) return `points at ${refused}`;
  if (parsed.protocol !== "https:" && kind !== "loopback") return "must use https";
  return undefined;
}

/** Parses `url` and returns it when the policy allows it; otherwise throws `invalid_argument` naming `field`. */
export function checkOutboundUrl(url: string, field: string, policy: OutboundPolicy): URL {
  const refused = outboundUrlRefusal(url, policy);
  if (refused !== undefined) throw invalidArgument(field, `"${url.slice(0, 200)}" ${refused}`);
  return new URL(url);
}

/** Options of {@linkcode resolveOnOrigin}. */
export interface ResolveOnOriginOptions {
  /** The field the reference came from, named in refusals. */
  readonly field: string;
  /** The field the base came from. @default "api_base_url" */
  readonly baseField?: string;
  readonly policy: OutboundPolicy;
}

/**
 * Resolves `reference` (absolute, or a path under `base`) against `base`
 * first, then checks the result: it must pass the policy and stay on
 * `base`'s origin, so `//evil/x`, `/\evil/x`, `\\evil` or an absolute URL on
 * another host cannot carry a credential meant for `base` elsewhere. A
 * relative path is taken under `base` as a directory (`me` under
 * `https://api.example/v1` is `https://api.example/v1/me`; `/me` is at the
 * origin's root). Throws `invalid_argument` naming the field at fault.
 */
export function resolveOnOrigin(reference: string, base: string, options: ResolveOnOriginOptions): URL {
  const { field, policy } = options;
  const baseUrl = checkOutboundUrl(base, options.baseField ?? "api_base_url", policy);
  if (/[\u0000-\u001f\u007f\\]/u.test(reference) || reference !== reference.trim()) {
    throw invalidArgument(field, "must not contain backslashes, control characters or surrounding spaces");
  }
  if (!baseUrl.pathname.endsWith("/")) baseUrl.pathname += "/";
  let resolved: URL;
  try {
    resolved = new URL(reference, baseUrl);
  } catch {
    throw invalidArgument(field, `"${reference.slice(0, 200)}" is not a URL or path`);
  }
  if (resolved.origin !== baseUrl.origin) {
    throw invalidArgument(field, `"${reference.slice(0, 200)}" leaves the origin of api_base_url (${baseUrl.origin})`);
  }
  return checkOutboundUrl(resolved.href, field, policy);
}
