/**
 * The last check before anything leaves the Broker: every request the
 * composition root hands a fetch to (discovery, token, revocation, JWKS,
 * credential checks) goes through here, so the outbound-URL policy holds at
 * call time even for a provider stored before a rule existed, and no request
 * follows a redirect to a host nobody checked.
 */
import { OutboundRefusedError, outboundUrlRefusal, type OutboundPolicy } from "../domain/outbound-url-policy.ts";
import type { FetchLike } from "./fetch-with-timeout.ts";

/**
 * Wraps `fetch` so that a URL the policy refuses is refused before any
 * request ({@linkcode OutboundRefusedError}), and every request is sent with
 * `redirect: "manual"`. A response that says it was redirected anyway (a
 * fetch that ignored the option) is refused: its body came from elsewhere.
 */
export function createOutboundFetch(fetch: FetchLike, policy: OutboundPolicy): FetchLike {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const refused = outboundUrlRefusal(url, policy);
    if (refused !== undefined) {
      throw new OutboundRefusedError(`outbound request refused before sending: "${redactQuery(url)}" ${refused}`);
    }
    const response = await fetch(input, { ...init, redirect: "manual" });
    if (response.redirected) {
      await response.body?.cancel();
      throw new OutboundRefusedError(`outbound request to ${new URL(url).origin} was redirected, which is refused`);
    }
    return response;
  };
}

/** The URL without its query, which may carry a credential (query_param strategies). */
function redactQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return (cut === -1 ? url : url.slice(0, cut)).slice(0, 200);
}
