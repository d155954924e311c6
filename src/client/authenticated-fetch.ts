import { type ClientLogger, completeLogger } from "./client-logger.ts";
import type { ClientMetrics } from "./client-metrics.ts";
import type { NexusClient } from "./create-nexus-client.ts";
import type { Credential } from "./credential.ts";
import { toNexusClientError } from "./nexus-client-error.ts";
import { sendWithinHosts } from "./send-within-hosts.ts";
import { createTokenCache, type TokenCache, type TokenKey } from "./token-cache.ts";

/**
 * Which credential an authenticated fetch uses: a connection, a workspace's
 * connection to a provider, or a session this agent holds (its token is
 * exchanged, for `scopes` when given, else the whole clearance).
 */
export type AuthenticatedFetchTarget =
  | { readonly client: NexusClient; readonly connectionId: string }
  | { readonly client: NexusClient; readonly workspaceId: string; readonly providerName: string }
  | { readonly client: NexusClient; readonly sessionToken: string; readonly scopes?: readonly string[]; readonly resource?: string };

/** Optional collaborators of {@linkcode authenticatedFetch}. */
export interface AuthenticatedFetchExtra {
  /** Share one cache among several fetchers and interceptors. @default a new cache over the client */
  readonly cache?: TokenCache;
  /** What sends the requests to the provider. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  readonly logger?: ClientLogger;
  readonly metrics?: ClientMetrics;
  /** The clock for SigV4 signing and the default cache. @default Date.now */
  readonly now?: () => number;
}

/**
 * A fetch-compatible function that authenticates every request to a
 * third-party API with a Nexus credential: it gets the credential through the
 * token cache, applies its strategy and sends. When the provider answers 401,
 * it forces ONE refresh (for a session: one new exchange) and retries ONCE; a
 * second 401 goes back to the caller (no loop). The body is buffered before
 * the first send so the retry can send (and sign) the same bytes.
 *
 * On a session, the exchanged credential is cached until shortly before it
 * expires, and a request to a host outside the session's `allowed_hosts`
 * (redirects included) is refused with `host_not_allowed` before it leaves.
 */
export function authenticatedFetch(target: AuthenticatedFetchTarget, extra: AuthenticatedFetchExtra = {}): typeof fetch {
  const logger = completeLogger(extra.logger);
  const now = extra.now ?? Date.now;
  const cache = extra.cache ?? createTokenCache({
    client: target.client, now, logger,
    ...(extra.metrics === undefined ? {} : { metrics: extra.metrics }),
  });
  const key = keyOf(target);
  const send = extra.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));

  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const original = new Request(input, init);
    const body = original.body === null ? undefined : await original.arrayBuffer();
    const attempt = (credential: Credential) => {
      const copy = body === undefined ? new Request(original) : new Request(original, { body });
      return sendWithinHosts(copy, credential, { send: (r) => send(r), body, now });
    };
    const signal = original.signal;
    const first = await attempt(await cache.get(key, { signal }));
    if (first.status !== 401) return first;

    let refreshed: Credential;
    try {
      refreshed = await cache.forceRefresh(key, { signal });
    } catch (thrown) {
      if (signal.aborted) throw signal.reason;
      const error = toNexusClientError(thrown);
      // A static key cannot be refreshed: the provider's 401 is the truthful answer.
      if (error.reason === "not_refreshable") return first;
      await first.body?.cancel();
      throw error;
    }
    logger.info("the provider answered 401; retrying once with a refreshed credential", { url: redactedUrl(original.url) });
    await first.body?.cancel();
    return attempt(refreshed);
  };
}

function keyOf(target: AuthenticatedFetchTarget): TokenKey {
  if ("connectionId" in target) return { connectionId: target.connectionId };
  if ("workspaceId" in target) return { workspaceId: target.workspaceId, providerName: target.providerName };
  return {
    sessionToken: target.sessionToken,
    ...(target.scopes === undefined ? {} : { scopes: target.scopes }),
    ...(target.resource === undefined ? {} : { resource: target.resource }),
  };
}

/** The URL without its query, which may hold a query_param credential. */
function redactedUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
