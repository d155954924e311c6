/**
 * Checks a provider endpoint URL before Nexus sends anything to it. Endpoints
 * come from operators and from discovery documents, both untrusted here
 * (security.md S-28, C-58): a token endpoint pointing at a cloud metadata
 * service would turn the broker into an SSRF proxy carrying client secrets.
 */
import { invalidArgument } from "../../shared/errors.ts";

/**
 * Parses `url` and returns it when it is safe to call; otherwise throws
 * NexusError `invalid_argument` naming `field`. Rules: https only; http is
 * accepted only for loopback hosts (localhost, 127.0.0.0/8, ::1) and only with
 * `allowInsecureLoopback`, which also gates loopback over https (production
 * has no business calling itself); no credentials in the URL and no fragment
 * (RFC 6749 3.1); never link-local or cloud metadata hosts (169.254.0.0/16,
 * fe80::/10, fd00:ec2::254, 100.100.100.200, metadata.google.internal), in
 * any spelling the WHATWG parser normalises (decimal, hex, IPv4-mapped IPv6).
 * Private ranges (10/8 and kin) stay allowed for self-hosted identity
 * providers. Host names are not resolved, so a DNS name pointing at a blocked
 * address is not caught here.
 */
export function validateEndpointUrl(url: string, field: string, allowInsecureLoopback: boolean): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidArgument(field, `"${url}" is not an absolute URL`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw invalidArgument(field, `"${url}" must use https (scheme ${parsed.protocol} is not allowed)`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw invalidArgument(field, "URL must not contain user credentials");
  }
  if (parsed.hash !== "" || url.includes("#")) throw invalidArgument(field, `"${url}" must not contain a fragment`);
  const host = parsed.hostname.replace(/\.$/, "").toLowerCase();
  if (isBlockedHost(host)) {
    throw invalidArgument(field, `"${url}" points at a link-local or cloud metadata address, which is never allowed`);
  }
  if (isLoopbackHost(host)) {
    if (!allowInsecureLoopback) throw invalidArgument(field, `"${url}" points at a loopback address, allowed in development only`);
    return parsed;
  }
  if (parsed.protocol !== "https:") throw invalidArgument(field, `"${url}" must use https`);
  return parsed;
}

/** Tells whether a URL host (as `URL.hostname` gives it) is a loopback host. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/\.$/, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const v4 = parseIpv4(host);
  if (v4 !== undefined) return v4[0] === 127;
  const v6 = parseIpv6(host);
  return v6 !== undefined && v6.slice(0, 7).every((h) => h === 0) && v6[7] === 1;
}

const awsImdsV6 = [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254];
const metadataNames = new Set(["metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"]);

function isBlockedHost(host: string): boolean {
  if (metadataNames.has(host)) return true;
  const v4 = parseIpv4(host);
  if (v4 !== undefined) return isBlockedIpv4(v4);
  const v6 = parseIpv6(host);
  if (v6 === undefined) return false;
  if (v6.every((h) => h === 0)) return true; // "::" reaches local services on some stacks
  if ((v6[0] & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
  if (awsImdsV6.every((h, i) => v6[i] === h)) return true; // fd00:ec2::254, AWS IMDS over IPv6
  const mapped = v6.slice(0, 5).every((h) => h === 0) && v6[5] === 0xffff; // ::ffff:a.b.c.d
  const nat64 = v6[0] === 0x64 && v6[1] === 0xff9b && v6.slice(2, 6).every((h) => h === 0); // 64:ff9b::a.b.c.d
  if (mapped || nat64) return isBlockedIpv4([v6[6] >> 8, v6[6] & 0xff, v6[7] >> 8, v6[7] & 0xff]);
  return false;
}

function isBlockedIpv4([a, b, c, d]: readonly number[]): boolean {
  if (a === 169 && b === 254) return true; // link-local, incl. 169.254.169.254 (AWS, GCP, Azure, OCI)
  if (a === 100 && b === 100 && c === 100 && d === 200) return true; // Alibaba Cloud metadata
  return a === 0; // 0.0.0.0/8 reaches the local host on Linux
}

function parseIpv4(host: string): number[] | undefined {
  // The WHATWG parser has already turned every IPv4 spelling into dotted decimal.
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return match === null ? undefined : match.slice(1).map(Number);
}

function parseIpv6(host: string): number[] | undefined {
  if (!host.startsWith("[") || !host.endsWith("]")) return undefined;
  const body = host.slice(1, -1);
  const [head = "", tail] = body.split("::");
  const parse = (part: string): number[] => (part === "" ? [] : part.split(":").map((h) => Number.parseInt(h, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const hextets = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return hextets.length === 8 && hextets.every((h) => Number.isInteger(h) && h >= 0 && h <= 0xffff) ? hextets : undefined;
}
