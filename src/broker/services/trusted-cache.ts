/**
 * A bounded, expiring, in-memory map that is trusted only while a change feed
 * keeps it true (see credential-cache-sync.ts): while untrusted it keeps
 * nothing, and every invalidation bumps a generation so that a read which
 * overlapped a change is not stored. The token and agent caches are both this.
 */
export interface TrustedCache<V> {
  get(key: string): V | undefined;
  /** Call before reading from the database; hand the result to {@linkcode TrustedCache.set}. */
  ticket(): number;
  /** Keeps `value` until `until` (ms), unless untrusted or invalidated since `ticket`; the oldest entry goes past the bound. */
  set(ticket: number, key: string, value: V, until: number): void;
  /** Drops one entry, or every entry when `key` is undefined. */
  invalidate(key?: string): void;
  /** Whether entries may be kept; false empties the cache. */
  trust(trusted: boolean): void;
  readonly trusted: boolean;
  readonly size: number;
}

/** Creates an empty, untrusted cache of at most `maxEntries`. */
export function createTrustedCache<V>(options: { readonly now: () => number; readonly maxEntries: number }): TrustedCache<V> {
  // Map keeps insertion order: the first key is the oldest entry, evicted first.
  const entries = new Map<string, { value: V; until: number }>();
  let generation = 0;
  let trusted = false;
  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.until > options.now()) return entry.value;
      entries.delete(key);
      return undefined;
    },
    ticket: () => generation,
    set(ticket, key, value, until) {
      if (!trusted || ticket !== generation || until <= options.now() || options.maxEntries <= 0) return;
      entries.delete(key);
      entries.set(key, { value, until });
      if (entries.size > options.maxEntries) entries.delete(entries.keys().next().value as string);
    },
    invalidate(key) {
      generation++;
      if (key === undefined) entries.clear();
      else entries.delete(key);
    },
    trust(value) {
      generation++;
      trusted = value;
      if (!value) entries.clear();
    },
    get trusted() {
      return trusted;
    },
    get size() {
      return entries.size;
    },
  };
}
