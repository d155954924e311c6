/**
 * The HTTP options every oauth4webapi call to a provider gets, so that no
 * request leaves except through the Broker's own fetch: the injected fetch
 * (in the Broker, the SSRF-guarded one of outbound-fetch.ts), a deadline
 * combined with the caller's cancellation (fetch-with-timeout.ts), no
 * redirects, and the provider's request quirks.
 */
import * as oauth from "oauth4webapi";
import { classifyHost } from "../domain/outbound-url-policy.ts";
import { type FetchLike, fetchWithTimeout } from "./fetch-with-timeout.ts";
import { adaptRequest, type QuirkName } from "./quirks.ts";

/** Options of {@linkcode providerHttp}. */
export interface ProviderHttpOptions {
  fetch: FetchLike;
  signal?: AbortSignal | undefined;
  /** Deadline of the request, body included. */
  timeoutMs: number;
  /** Request adapters to run on token and revocation requests. */
  quirks?: readonly QuirkName[];
}

/** What oauth4webapi hands its custom fetch. */
interface OutgoingInit {
  body?: unknown;
  headers: Record<string, string>;
  method: string;
}

/** The transport part of oauth4webapi's request options. */
export interface ProviderHttp {
  [oauth.customFetch]: (url: string, init: OutgoingInit) => Promise<Response>;
  [oauth.allowInsecureRequests]: boolean;
}

/**
 * The transport options for a call to `url`. oauth4webapi refuses plain http
 * unless told otherwise; it is allowed here for loopback hosts only, which the
 * outbound-URL policy admits only with ALLOW_HTTP_LOOPBACK_PROVIDERS (tests
 * and local development), so both layers must agree before http is used.
 */
export function providerHttp(url: URL, options: ProviderHttpOptions): ProviderHttp {
  const quirks = options.quirks ?? [];
  return {
    [oauth.customFetch]: (target, init) => {
      let headers = new Headers(init.headers);
      let body = init.body as BodyInit | undefined;
      if (body instanceof URLSearchParams || typeof body === "string") ({ headers, body } = adaptRequest(quirks, { headers, body }));
      return fetchWithTimeout(options.fetch, target, { method: init.method, headers, ...(body === undefined ? {} : { body }) }, {
        signal: options.signal,
        timeoutMs: options.timeoutMs,
      });
    },
    [oauth.allowInsecureRequests]: url.protocol === "http:" && classifyHost(url.hostname) === "loopback",
  };
}
