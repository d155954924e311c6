import { type ClientLogger, completeLogger } from "./client-logger.ts";
import type { ClientMetrics } from "./client-metrics.ts";
import type { NexusClient } from "./create-nexus-client.ts";
import type { Credential } from "./credential.ts";
import { untilAborted } from "../shared/until-aborted.ts";

/**
 * What a credential is cached under: a connection, a workspace's connection
 * to a provider, or a session token exchanged (RFC 8693) for the given
 * scopes (all of its clearance when none) and resource.
 */
export type TokenKey =
  | { readonly connectionId: string }
  | { readonly workspaceId: string; readonly providerName: string }
  | { readonly sessionToken: string; readonly scopes?: readonly string[]; readonly resource?: string };

/** Options of {@linkcode createTokenCache}. */
export interface TokenCacheOptions {
  /** `exchange` is needed for session keys only. */
  readonly client: Pick<NexusClient, "getToken" | "resolveToken" | "refresh"> & Partial<Pick<NexusClient, "exchange">>;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  /** A credential is stale this long before its `expiresAt`. @default 60 */
  readonly evictBeforeExpirySeconds?: number;
  readonly metrics?: ClientMetrics;
  readonly logger?: ClientLogger;
}

/** A per-key credential cache; see {@linkcode createTokenCache}. */
export interface TokenCache {
  /** The cached credential while fresh, else one fetch shared by every concurrent caller. */
  get(key: TokenKey, options?: { signal?: AbortSignal }): Promise<Credential>;
  /** Forgets the key's credential; the next get fetches. */
  invalidate(key: TokenKey): void;
  /**
   * Asks Nexus for a new credential now, for example after a provider 401.
   * Connection keys call RefreshToken; workspace keys refresh the connection
   * their credential was resolved from (resolving first when none is cached);
   * session keys exchange again (a session's holder may not refresh the
   * connection, and the Broker keeps it fresh). Concurrent calls share one refresh.
   */
  forceRefresh(key: TokenKey, options?: { signal?: AbortSignal }): Promise<Credential>;
}

/** Past this many entries, storing one first drops those gone stale. */
const sweepAbove = 256;

interface Entry {
  readonly credential: Credential;
  /** When it turns stale (ms); undefined: never, until invalidated. */
  readonly staleAt: number | undefined;
}

/**
 * Caches credentials per key so agents do not call the Gateway for every
 * request. A credential is served until `evictBeforeExpirySeconds` before its
 * `expiresAt` (one already inside that margin is handed to its callers but
 * not kept), never past expiry; one without `expiresAt` is kept until
 * invalidated. Concurrent misses share ONE in-flight fetch per key, so a
 * burst of requests costs one Gateway call.
 */
export function createTokenCache(options: TokenCacheOptions): TokenCache {
  const { client, metrics } = options;
  const now = options.now ?? Date.now;
  const marginMs = (options.evictBeforeExpirySeconds ?? 60) * 1000;
  const logger = completeLogger(options.logger);
  const entries = new Map<string, Entry>();
  const fetching = new Map<string, Promise<Credential>>();
  const refreshing = new Map<string, Promise<Credential>>();

  function keep(id: string, credential: Credential, flight: Promise<Credential>, flights: Map<string, Promise<Credential>>): void {
    // An invalidate() during the fetch removed the flight: its answer must not come back as fresh.
    if (flights.get(id) !== flight) return;
    const staleAt = credential.expiresAt === undefined ? undefined : credential.expiresAt * 1000 - marginMs;
    if (staleAt !== undefined && staleAt <= now()) {
      entries.delete(id);
      logger.debug("credential arrived inside the eviction margin; not caching it", { expires_at: credential.expiresAt });
      return;
    }
    // Session keys come and go with their sessions: drop stale entries now and then rather than keep them all.
    if (entries.size >= sweepAbove) {
      for (const [key, entry] of entries) if (entry.staleAt !== undefined && entry.staleAt <= now()) entries.delete(key);
    }
    entries.set(id, { credential, staleAt });
  }

  function share(id: string, flights: Map<string, Promise<Credential>>, run: () => Promise<Credential>): Promise<Credential> {
    const existing = flights.get(id);
    if (existing !== undefined) return existing;
    const flight: Promise<Credential> = run()
      .then((credential) => {
        keep(id, credential, flight, flights);
        return credential;
      })
      .finally(() => {
        if (flights.get(id) === flight) flights.delete(id);
      });
    flights.set(id, flight);
    return flight;
  }

  async function fetchFor(key: TokenKey): Promise<Credential> {
    if ("connectionId" in key) return client.getToken(key.connectionId);
    if ("workspaceId" in key) return client.resolveToken(key.workspaceId, key.providerName);
    if (client.exchange === undefined) throw new TypeError("the token cache's client has no exchange(): session keys need a NexusClient");
    const options = { ...(key.scopes === undefined ? {} : { scopes: key.scopes }), ...(key.resource === undefined ? {} : { resource: key.resource }) };
    return (await client.exchange(key.sessionToken, options)).credential;
  }

  return {
    get(key, o = {}) {
      const id = idOf(key);
      const entry = entries.get(id);
      if (entry !== undefined && (entry.staleAt === undefined || now() < entry.staleAt)) {
        metrics?.cacheHit();
        return Promise.resolve(entry.credential);
      }
      // A refresh under way answers sooner with a newer credential than a fetch started now would.
      const refresh = refreshing.get(id);
      if (refresh !== undefined) return untilAborted(refresh, o.signal);
      // The shared fetch is not tied to one caller's signal; each caller can still stop waiting for it.
      return untilAborted(share(id, fetching, () => fetchFor(key)), o.signal);
    },
    invalidate(key) {
      const id = idOf(key);
      entries.delete(id);
      fetching.delete(id);
      refreshing.delete(id);
    },
    forceRefresh(key, o = {}) {
      const id = idOf(key);
      const known = entries.get(id)?.credential.connectionId;
      entries.delete(id);
      fetching.delete(id);
      const refresh = async (): Promise<Credential> => {
        if ("sessionToken" in key) return fetchFor(key);
        if ("connectionId" in key) return client.refresh(key.connectionId);
        const connectionId = known ?? (await client.resolveToken(key.workspaceId, key.providerName)).connectionId;
        if (connectionId === undefined) return client.resolveToken(key.workspaceId, key.providerName);
        return { ...(await client.refresh(connectionId)), connectionId };
      };
      return untilAborted(share(id, refreshing, refresh), o.signal);
    },
  };
}

function idOf(key: TokenKey): string {
  if ("connectionId" in key) return `connection:${key.connectionId}`;
  if ("workspaceId" in key) return `workspace:${key.workspaceId}\n${key.providerName}`;
  // The token itself is the key: it lives only in this process's memory, as the credential does.
  return `session:${key.sessionToken.trim()}\n${[...new Set(key.scopes ?? [])].sort().join(" ")}\n${key.resource ?? ""}`;
}

