import type { Tracing } from "./tracing.ts";

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * A fetch whose every request, inside a traced request, is a client span
 * (method, provider origin and path, status; never the query, which may hold
 * a credential) and carries `traceparent` to the provider.
 */
export function tracedFetch<F extends Fetch>(fetch: F, tracing: Tracing): F {
  if (!tracing.enabled) return fetch;
  const traced: Fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    return tracing.span(`${method} ${url.host}`, "client", {
      "http.request.method": method, "server.address": url.hostname, "url.full": `${url.origin}${url.pathname}`,
    }, async (span) => {
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      tracing.inject(headers);
      const response = await fetch(input, { ...init, headers });
      span.setAttributes({ "http.response.status_code": response.status });
      if (response.status >= 500) span.fail(String(response.status));
      return response;
    });
  };
  return traced as F;
}
