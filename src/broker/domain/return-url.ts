/**
 * The return URL policy (security.md S-27, C-30…C-37): where the browser may
 * be sent back to after a handshake. Pure; the allow-list comes from
 * `ALLOWED_RETURN_DOMAINS`.
 */
import { NexusError } from "../../shared/errors.ts";
import { parseReturnUrl } from "../../shared/input-rules.ts";

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
 * Checks a return URL against the policy and returns it parsed: the shape
 * every return URL must have (the input rule `parseReturnUrl`: absolute,
 * `https:` or `http:` on localhost, 127.0.0.1 or [::1], at most 2048
 * characters, no credentials, backslash, control character or whitespace,
 * no leading `/`), and a host (case-insensitive, port ignored, IDNs in
 * punycode) that equals an entry of `allowedDomains` or is a real subdomain
 * of a `*.suffix` entry (no empty labels; the apex only if listed).
 *
 * @param allowedDomains lowercase host names, optionally with a leading `*.`;
 *   IDN entries must be given in punycode, as the URL parser yields hosts.
 * @throws NexusError `return_url_rejected` (field `return_url`); the message
 *   names the problem and echoes at most the host.
 */
export function checkReturnUrl(raw: string, allowedDomains: readonly string[]): URL {
  const url = parseReturnUrl(raw);
  const host = url.hostname.toLowerCase();
  if (!hostAllowed(host, allowedDomains)) {
    throw new NexusError("return_url_rejected", `return_url host ${host} is not an allowed return domain`, { field: "return_url" });
  }
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
