import type { ConnectionStatus } from "../domain/connection.ts";
import type { CredentialPayload } from "./credential-payload.ts";

/**
 * What GetToken answered for an active connection, kept to answer again, and
 * only the names its audit row and metric need. Never a refresh token, and
 * never whole provider or connection records: those weigh kilobytes each, and
 * the cache holds thousands of answers.
 */
export interface CachedAnswer {
  readonly connectionId: string;
  readonly status: ConnectionStatus;
  /** The agent that alone may use the connection (null: any caller). Checked on every hit. */
  readonly agentId: string | null;
  readonly providerId: string;
  readonly providerName: string;
  readonly payload: CredentialPayload;
}

/**
 * Recently opened credentials, in memory. Reading one costs no database
 * round trip and no decryption, which is most of a GetToken.
 *
 * Safety rests on three things. Entries are dropped the moment any Broker
 * changes what they answer (see credential-cache-sync.ts). An entry lives
 * at most `ttlMs`, and never into the window where reading the token would
 * refresh it. And while the Broker cannot be sure it hears every change,
 * the cache is emptied and keeps nothing (`trusted` is false).
 */
export interface CredentialCache {
  /** The cached answer for a connection, if any and still fresh. */
  get(connectionId: string): CachedAnswer | undefined;
  /** Call before reading from the database; hand the result to {@linkcode CredentialCache.set}. */
  ticket(): number;
  /**
   * Keeps an answer read after `ticket` was taken, until `usableUntilMs` at
   * the latest, unless something was invalidated since the ticket (the
   * answer may predate the change) or the cache is not trusted.
   */
  set(ticket: number, answer: CachedAnswer, usableUntilMs: number): void;
  /** Drops one connection's answer, or every answer when `connectionId` is undefined. */
  invalidate(connectionId?: string): void;
  /** Whether answers may be kept; false empties the cache. */
  trust(trusted: boolean): void;
  readonly trusted: boolean;
  readonly size: number;
}

/** Options of {@linkcode createCredentialCache}. */
export interface CredentialCacheOptions {
  readonly now: () => number;
  /** Longest life of an entry, in ms; 0 turns the cache off. */
  readonly ttlMs: number;
  /** Most entries kept; the least recently stored go first. */
  readonly maxEntries: number;
}

interface Entry {
  readonly answer: CachedAnswer;
  readonly until: number;
}

/** Creates an empty, untrusted cache (trusted once its change feed listens). */
export function createCredentialCache(options: CredentialCacheOptions): CredentialCache {
  // Map keeps insertion order: the first key is the oldest entry, evicted first.
  const entries = new Map<string, Entry>();
  // Bumped by every invalidation, so a read that overlapped one is not stored.
  let generation = 0;
  let trusted = false;
  const enabled = options.ttlMs > 0 && options.maxEntries > 0;

  return {
    get(connectionId) {
      const entry = entries.get(connectionId);
      if (entry === undefined) return undefined;
      if (entry.until <= options.now()) {
        entries.delete(connectionId);
        return undefined;
      }
      return entry.answer;
    },
    ticket: () => generation,
    set(ticket, answer, usableUntilMs) {
      if (!enabled || !trusted || ticket !== generation) return;
      const now = options.now();
      const until = Math.min(now + options.ttlMs, usableUntilMs);
      if (until <= now || answer.status !== "active") return;
      const id = answer.connectionId;
      entries.delete(id);
      entries.set(id, { answer, until });
      if (entries.size > options.maxEntries) entries.delete(entries.keys().next().value as string);
    },
    invalidate(connectionId) {
      generation++;
      if (connectionId === undefined) entries.clear();
      else entries.delete(connectionId);
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
