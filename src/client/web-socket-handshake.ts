import { assertHostAllowed } from "./allowed-hosts.ts";
import { applyCredentialToUrl } from "./apply-credential-to-url.ts";
import type { Credential } from "./credential.ts";
import { credentialHeaders } from "./credential-headers.ts";

/**
 * Where a credential goes in a WebSocket handshake: `query_param` into the
 * URL, `oauth2`, `header` and `basic_auth` into the upgrade request's
 * headers. Any other strategy throws (`unsupported_strategy`): a socket is
 * never opened without its credential, nor with it to a host outside its
 * `allowed_hosts` (`host_not_allowed`).
 */
export function webSocketHandshake(url: string, credential: Credential): { url: string; headers: Record<string, string> } {
  assertHostAllowed(url, credential);
  if (credential.strategy?.type === "query_param") return { url: applyCredentialToUrl(url, credential).href, headers: {} };
  return { url, headers: credentialHeaders(credential) };
}
