import type { Agent } from "../domain/agent.ts";
import type { SyncedCache } from "./credential-cache-sync.ts";

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
  const entries = new Map<string, { agent: Agent; until: number }>();
  let generation = 0;
  let trusted = false;
  return {
    get(id) {
      const entry = entries.get(id);
      if (entry === undefined) return undefined;
      if (entry.until > options.now()) return entry.agent;
      entries.delete(id);
      return undefined;
    },
    ticket: () => generation,
    set(ticket, agent) {
      if (!trusted || ticket !== generation || options.ttlMs <= 0) return;
      entries.delete(agent.id);
      entries.set(agent.id, { agent, until: options.now() + options.ttlMs });
      if (entries.size > options.maxEntries) entries.delete(entries.keys().next().value as string);
    },
    invalidate(id) {
      generation++;
      if (id === undefined) entries.clear();
      else entries.delete(id);
    },
    trust(value) {
      generation++;
      trusted = value;
      if (!value) entries.clear();
    },
    get trusted() {
      return trusted;
    },
  };
}
