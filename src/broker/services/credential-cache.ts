import type { ConnectionStatus } from "../domain/connection.ts";
import type { CredentialPayload } from "./credential-payload.ts";
import { createTrustedCache } from "./trusted-cache.ts";

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
  /** When (ms) reading the token would refresh it: no copy of the answer may be used past it. */
  readonly readUntilMs: number;
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

/** Creates an empty, untrusted cache (trusted once its change feed listens). */
export function createCredentialCache(options: CredentialCacheOptions): CredentialCache {
  const enabled = options.ttlMs > 0 && options.maxEntries > 0;
  const cache = createTrustedCache<CachedAnswer>({ now: options.now, maxEntries: enabled ? options.maxEntries : 0 });
  return {
    get: (connectionId) => cache.get(connectionId),
    ticket: () => cache.ticket(),
    set(ticket, answer, usableUntilMs) {
      if (answer.status !== "active") return;
      cache.set(ticket, answer.connectionId, answer, Math.min(options.now() + options.ttlMs, usableUntilMs));
    },
    invalidate: (connectionId) => cache.invalidate(connectionId),
    trust: (value) => cache.trust(value),
    get trusted() {
      return cache.trusted;
    },
    get size() {
      return cache.size;
    },
  };
}
