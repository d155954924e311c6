/**
 * The return URL policy (security.md S-27, C-30…C-37): where the browser may
 * be sent back to after a handshake. Pure; the allow-list comes from
 * `ALLOWED_RETURN_DOMAINS`.
 */
import { NexusError } from "../../shared/errors.ts";

/** Longest return URL accepted; longer ones are a smell, not a use case. */
export const maxReturnUrlLength = 2048;

/** Hosts where plain http is tolerated, for local development. */
const loopbackHosts: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"]);

// Checked on the raw string, before parsing: the WHATWG parser silently drops
// tabs and newlines and treats `\` as `/` in special URLs, which is exactly how
// `/\evil`, `/\t/evil` and `host\t.evil` bypasses slip past prefix checks.
const controlChars = /[\u0000-\u001f\u007f]/u;
const whitespace = /\s/u;

function reject(message: string): never {
  throw new NexusError("return_url_rejected", message, { field: "return_url" });
}

/** Host labels: none empty, so `.example.org`, `..example.org` and `a..example.org` have no place. */
function labelsOk(name: string): boolean {
  return name !== "" && name.split(".").every((label) => label !== "");
}

/**
 * Whether `host` is an allowed entry or a real subdomain of a `*.suffix`
 * entry: one or more non-empty labels, then the suffix. The apex itself
 * (`example.org` for `*.example.org`) matches only when listed on its own.
 */
function hostAllowed(host: string, allowedDomains: readonly string[]): boolean {
  if (!labelsOk(host)) return false;
  for (const raw of allowedDomains) {
    const entry = raw.toLowerCase();
    if (entry.startsWith("*.")) {
      // Keeping the dot makes the match strict: neither `example.org` nor `badexample.org` ends with `.example.org`.
      const suffix = entry.slice(1);
      if (labelsOk(suffix.slice(1)) && host.endsWith(suffix) && labelsOk(host.slice(0, -suffix.length))) return true;
    } else if (entry !== "" && host === entry) {
      return true;
    }
  }
  return false;
}

/**
 * Checks a return URL against the policy and returns it parsed.
 *
 * Accepted: an absolute `https:` URL (or `http:` on localhost, 127.0.0.1 or
 * [::1]) with no user name or password, whose host (case-insensitive, port
 * ignored, IDNs in punycode) equals an entry of `allowedDomains` or is a real
 * subdomain of a `*.suffix` entry (no empty labels; the apex only if listed).
 * Rejected before parsing: more than 2048 characters, a backslash, a control
 * character or whitespace anywhere, and a leading `/` (paths and `//host`).
 *
 * @param allowedDomains lowercase host names, optionally with a leading `*.`;
 *   IDN entries must be given in punycode, as the URL parser yields hosts.
 * @throws NexusError `return_url_rejected` (field `return_url`); the message
 *   names the problem and echoes at most the host.
 */
export function checkReturnUrl(raw: string, allowedDomains: readonly string[]): URL {
  if (raw === "") reject("return_url is empty");
  if (raw.length > maxReturnUrlLength) reject(`return_url is longer than ${maxReturnUrlLength} characters`);
  if (raw.includes("\\")) reject("return_url must not contain a backslash");
  if (controlChars.test(raw) || whitespace.test(raw)) reject("return_url must not contain control characters or whitespace");
  if (raw.startsWith("/")) reject("return_url must be an absolute URL, not a path or a scheme-relative URL");

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return reject("return_url must be an absolute URL");
  }

  const host = url.hostname.toLowerCase();
  const secure = url.protocol === "https:";
  const loopbackHttp = url.protocol === "http:" && loopbackHosts.has(host);
  if (!secure && !loopbackHttp) reject("return_url must use https (http only for localhost)");
  if (url.username !== "" || url.password !== "") reject("return_url must not contain a user name or password");
  if (host === "") reject("return_url has no host");
  if (!hostAllowed(host, allowedDomains)) reject(`return_url host ${host} is not an allowed return domain`);
  return url;
}

/**
 * Returns `url` with `params` set: same-named parameters are replaced, others
 * and the fragment are kept. Goes through URLSearchParams so values are always
 * encoded, never concatenated.
 */
export function withQuery(url: string, params: Readonly<Record<string, string>>): string {
  const result = new URL(url);
  for (const [name, value] of Object.entries(params)) result.searchParams.set(name, value);
  return result.toString();
}
