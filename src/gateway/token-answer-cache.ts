import type { Credential } from "../../gen/nexus/common/v1/credential_pb.ts";

/** Who a cached read is audited as, as the Broker named it. */
export interface ReadAudit {
  readonly connectionId: string;
  readonly providerId: string;
  readonly providerName: string;
  readonly caller: string;
  /** The registered agent whose answer it is; "" for an unscoped key. */
  readonly agentId: string;
}

/** An answer the Broker gave one caller for one connection. Never a refresh token: GetToken carries none. */
export interface CachedToken {
  readonly credential: Credential;
  readonly audit: ReadAudit;
}

/** The Gateway's cache of GetToken answers, per caller credential and connection. */
export interface TokenAnswerCache {
  /** The answer for `key` (see {@linkcode tokenCacheKey}), if any, fresh and trusted. */
  get(key: string): CachedToken | undefined;
  /** Call before asking the Broker; hand the result to {@linkcode TokenAnswerCache.set}. */
  ticket(): number;
  /**
   * Keeps an answer for at most `maxAgeMs` (and the cache's own limit),
   * unless the cache is not trusted or anything was invalidated since
   * `ticket` (the answer may predate that change).
   */
  set(ticket: number, key: string, value: CachedToken, maxAgeMs: number): void;
  /** Forgets every answer about one connection. */
  dropConnection(connectionId: string): void;
  /** Forgets every answer given to one agent. */
  dropAgent(agentId: string): void;
  /** Forgets everything. */
  clear(): void;
  /** Whether answers may be kept and used; false empties the cache. */
  trust(trusted: boolean): void;
  readonly trusted: boolean;
  readonly size: number;
}

/** The cache key of a caller's read of a connection: the caller is a credential digest or an unscoped key's name. */
export function tokenCacheKey(connectionId: string, caller: string): string {
  return `${connectionId} ${caller}`;
}

interface Entry {
  readonly value: CachedToken;
  readonly until: number;
}

/**
 * Creates an empty, untrusted cache of at most `maxEntries` answers, each
 * kept at most `ttlMs`. It is trusted only while the Broker's change stream
 * is in sync (token-change-watch.ts); every change the stream reports drops
 * the answers it concerns, and bumps a generation so that an answer which
 * was on its way from the Broker while the change happened is not stored.
 */
export function createTokenAnswerCache(options: {
  readonly now: () => number;
  readonly ttlMs: number;
  readonly maxEntries: number;
  /** Uniform in [0, 1): each entry lives between 80% and 100% of `ttlMs`, so entries filled together do not expire together. @default Math.random */
  readonly random?: () => number;
}): TokenAnswerCache {
  const random = options.random ?? Math.random;
  const enabled = options.ttlMs > 0 && options.maxEntries > 0;
  // Insertion order is age: the first key is the oldest entry, evicted first.
  const entries = new Map<string, Entry>();
  const byConnection = new Map<string, Set<string>>();
  const byAgent = new Map<string, Set<string>>();
  let generation = 0;
  let trusted = false;

  function index(map: Map<string, Set<string>>, id: string, key: string): void {
    let keys = map.get(id);
    if (keys === undefined) map.set(id, (keys = new Set()));
    keys.add(key);
  }

  function unindex(map: Map<string, Set<string>>, id: string, key: string): void {
    const keys = map.get(id);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) map.delete(id);
  }

  function remove(key: string): void {
    const entry = entries.get(key);
    if (entry === undefined) return;
    entries.delete(key);
    unindex(byConnection, entry.value.audit.connectionId, key);
    if (entry.value.audit.agentId !== "") unindex(byAgent, entry.value.audit.agentId, key);
  }

  function drop(map: Map<string, Set<string>>, id: string): void {
    generation++;
    for (const key of map.get(id) ?? []) remove(key);
  }

  function clear(): void {
    generation++;
    entries.clear();
    byConnection.clear();
    byAgent.clear();
  }

  return {
    get(key) {
      if (!trusted) return undefined;
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.until > options.now()) return entry.value;
      remove(key);
      return undefined;
    },
    ticket: () => generation,
    set(ticket, key, value, maxAgeMs) {
      if (!enabled || !trusted || ticket !== generation) return;
      const until = options.now() + Math.min(options.ttlMs * (0.8 + 0.2 * random()), maxAgeMs);
      if (!(until > options.now())) return;
      remove(key);
      entries.set(key, { value, until });
      index(byConnection, value.audit.connectionId, key);
      if (value.audit.agentId !== "") index(byAgent, value.audit.agentId, key);
      if (entries.size > options.maxEntries) remove(entries.keys().next().value as string);
    },
    dropConnection: (connectionId) => drop(byConnection, connectionId),
    dropAgent: (agentId) => drop(byAgent, agentId),
    clear,
    trust(value) {
      if (!value) clear();
      else generation++;
      trusted = value;
    },
    get trusted() {
      return trusted;
    },
    get size() {
      return entries.size;
    },
  };
}
