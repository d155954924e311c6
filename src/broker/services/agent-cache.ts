import type { Agent } from "../domain/agent.ts";
import type { SyncedCache } from "./credential-cache-sync.ts";
import { createTrustedCache } from "./trusted-cache.ts";

/**
 * Agents recently read, in memory, so authenticating a call costs no
 * database round trip. Like the token cache it keeps nothing while it is not
 * trusted (its change feed is down), every change any Broker makes to an
 * agent drops it here at once, and an entry lives at most `ttlMs`.
 */
export interface AgentCache extends SyncedCache {
  get(id: string): Agent | undefined;
  /** Call before reading from the database; hand the result to {@linkcode AgentCache.set}. */
  ticket(): number;
  /** Keeps an agent read after `ticket` was taken, unless something was invalidated since. */
  set(ticket: number, agent: Agent): void;
}

/** Creates an empty, untrusted agent cache. */
export function createAgentCache(options: { readonly now: () => number; readonly ttlMs: number; readonly maxEntries: number }): AgentCache {
  const cache = createTrustedCache<Agent>(options);
  return {
    get: (id) => cache.get(id),
    ticket: () => cache.ticket(),
    set: (ticket, agent) => cache.set(ticket, agent.id, agent, options.now() + options.ttlMs),
    invalidate: (id) => cache.invalidate(id),
    trust: (value) => cache.trust(value),
    get trusted() {
      return cache.trusted;
    },
  };
}
