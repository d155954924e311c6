import { allowedHostsOf, hostAllowed, hostNotAllowed } from "./allowed-hosts.ts";
import { applyCredential } from "./apply-credential.ts";
import type { Credential } from "./credential.ts";

/** What {@linkcode sendWithinHosts} needs besides the request. */
export interface SendWithinHostsOptions {
  /** Sends one request (no credential logic). */
  readonly send: (request: Request) => Promise<Response>;
  /** The body's bytes, buffered once, so a 307/308 redirect can send them again. */
  readonly body: ArrayBuffer | undefined;
  readonly now: () => number;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const maxRedirects = 20;
// Fetch drops these when a redirect turns a request into a GET without body.
const bodyHeaders = ["content-encoding", "content-language", "content-location", "content-type", "content-length"];

/**
 * Applies the credential and sends. A credential limited to some hosts
 * (`allowed_hosts`) is checked against every URL it would go to, the
 * redirects included: fetch itself would carry a custom header such as
 * `X-API-Key` to wherever a server redirects, so with such a credential the
 * redirects are followed here, as fetch follows them (303, and a POST's
 * 301/302, become a GET without body), the credential applied afresh to each
 * allowed hop, and a redirect to another host is refused with
 * `host_not_allowed` without following it. A request whose `redirect` is
 * `manual` or `error` is sent as it is. Where fetch hides redirects (a
 * browser's opaque redirect), the response comes back as fetch gives it.
 */
export async function sendWithinHosts(request: Request, credential: Credential, options: SendWithinHostsOptions): Promise<Response> {
  const { send, now } = options;
  const hosts = allowedHostsOf(credential);
  if (hosts.length === 0 || request.redirect !== "follow") return send(await applyCredential(request, credential, { now }));

  let current = request;
  let body = options.body;
  for (let hop = 0; ; hop++) {
    const manual = body === undefined ? new Request(current, { redirect: "manual" }) : new Request(current, { redirect: "manual", body });
    const response = await send(await applyCredential(manual, credential, { now }));
    const location = response.headers.get("location");
    if (!redirectStatuses.has(response.status) || location === null) return response;
    await response.body?.cancel();
    if (hop + 1 > maxRedirects) throw new TypeError(`fetch failed: more than ${maxRedirects} redirects`);
    const next = new URL(location, current.url);
    if (!hostAllowed(next.hostname, hosts)) throw hostNotAllowed(next.hostname, hosts);
    const toGet = response.status === 303 ? current.method !== "GET" && current.method !== "HEAD" : response.status !== 307 && response.status !== 308 && current.method === "POST";
    const headers = new Headers(current.headers);
    // The credential is applied again for the new URL; a header the caller set for the first origin does not follow it elsewhere.
    if (next.origin !== new URL(current.url).origin) headers.delete("authorization");
    if (toGet) {
      for (const name of bodyHeaders) headers.delete(name);
      body = undefined;
    }
    current = new Request(next, {
      method: toGet ? "GET" : current.method, headers, signal: current.signal, redirect: "follow", credentials: current.credentials,
    });
  }
}
