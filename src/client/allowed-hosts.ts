import type { Credential } from "./credential.ts";
import { NexusClientError } from "./nexus-client-error.ts";

/**
 * The hosts a credential may be sent to, from its strategy's `allowed_hosts`
 * (a comma list the exchange of a session sets when the session limits
 * hosts); empty when it names none, which means no limit.
 */
export function allowedHostsOf(credential: Credential): string[] {
  const raw = (credential as Partial<Credential> | undefined)?.strategy?.config?.allowed_hosts;
  if (typeof raw !== "string") return [];
  return raw.split(",").map((h) => normalize(h)).filter((h) => h !== "");
}

/**
 * Whether `host` is covered by one of `patterns`: an exact name, or
 * `*.example.com` for a real subdomain of example.com (`a.example.com`,
 * `a.b.example.com`; never `example.com` itself, `.example.com` or
 * `a..example.com`). The same rule the Broker applies when it checks that a
 * child session's hosts fit inside its parent's.
 */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const name = normalize(host);
  // An empty label is no real host name, whatever pattern it would end with.
  if (name === "" || name.split(".").some((label) => label === "")) return false;
  return patterns.some((raw) => {
    const pattern = normalize(raw);
    if (!pattern.startsWith("*.")) return pattern === name;
    const suffix = pattern.slice(1);
    return name.endsWith(suffix) && name.length > suffix.length;
  });
}

/**
 * Refuses, before anything is sent, a URL whose host is outside the
 * credential's `allowed_hosts`: a `NexusClientError` with reason
 * `host_not_allowed`. A credential without `allowed_hosts` passes.
 */
export function assertHostAllowed(url: string | URL, credential: Credential): void {
  const hosts = allowedHostsOf(credential);
  if (hosts.length === 0) return;
  const host = new URL(url).hostname;
  if (hostAllowed(host, hosts)) return;
  throw hostNotAllowed(host, hosts);
}

/** The error of a request to a host the session does not allow. */
export function hostNotAllowed(host: string, hosts: readonly string[]): NexusClientError {
  return new NexusClientError(
    `host_not_allowed: the credential may only be sent to ${hosts.map((h) => `"${h}"`).join(", ")} (the session's allowed_hosts), not to "${host}"; nothing was sent`,
    { code: "permission_denied", reason: "host_not_allowed", metadata: { host } },
  );
}

/** Lower case, without surrounding space or the root's trailing dot (`api.example.com.`). */
function normalize(host: string): string {
  return host.trim().toLowerCase().replace(/\.$/, "");
}
