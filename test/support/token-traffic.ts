/**
 * A fetch for Brokers under test that records every request to a token
 * endpoint (a URL path ending in /token): the grant type and the refresh
 * token presented, read from the form body the Broker sends (see
 * src/broker/oauth/token-endpoint.ts), and the provider's answer. A request
 * is recorded when it is sent, so one whose answer never came (the Broker
 * gave up, or died) still counts as a presentation.
 */

/** One token request and its answer. */
export interface TokenExchange {
  readonly grantType: string;
  /** The refresh_token form parameter, for grant_type=refresh_token. */
  readonly refreshToken: string | undefined;
  readonly sentAt: number;
  /** HTTP status; 0 while unanswered or when no answer came. */
  status: number;
  /** The JSON answer, when it was JSON. */
  body: Record<string, unknown> | undefined;
}

/** A recording fetch and what it saw. */
export interface TokenTraffic {
  readonly fetch: typeof fetch;
  readonly exchanges: TokenExchange[];
  /** Refresh requests only. */
  refreshes(): TokenExchange[];
}

export function tokenTrafficFetch(): TokenTraffic {
  const exchanges: TokenExchange[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (!/\/token$/.test(url.pathname) || init?.body === undefined || init.body === null) return fetch(input, init);
    const form = new URLSearchParams(init.body as URLSearchParams | string);
    const entry: TokenExchange = {
      grantType: form.get("grant_type") ?? "",
      refreshToken: form.get("refresh_token") ?? undefined,
      sentAt: Date.now(),
      status: 0,
      body: undefined,
    };
    exchanges.push(entry);
    const res = await fetch(input, init);
    entry.status = res.status;
    try {
      const parsed = (await res.clone().json()) as unknown;
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) entry.body = parsed as Record<string, unknown>;
    } catch {
      // not JSON
    }
    return res;
  };
  return { fetch: wrapped, exchanges, refreshes: () => exchanges.filter((e) => e.grantType === "refresh_token") };
}
