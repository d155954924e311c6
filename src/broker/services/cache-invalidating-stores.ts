import type { ConnectionStore, ProviderStore } from "../domain/ports.ts";
import type { CredentialCache } from "./credential-cache.ts";

type Writes<T> = { [K in keyof T]?: T[K] };

/**
 * Wraps `target` so that each listed write drops cache entries once it has
 * run, failed or not (a failure may still have committed). Other Brokers learn
 * of the change from the database's notification; this one must not wait
 * for it, or a caller could revoke a connection and still read its token
 * from the same Broker a moment later.
 */
function invalidating<T extends object>(target: T, writes: readonly (keyof T)[], drop: (args: unknown[]) => void): T {
  const wrapped: Writes<T> = {};
  for (const name of writes) {
    const write = target[name] as (...args: unknown[]) => Promise<unknown>;
    wrapped[name] = (async (...args: unknown[]) => {
      try {
        return await write.apply(target, args);
      } finally {
        drop(args);
      }
    }) as T[keyof T];
  }
  return { ...target, ...wrapped };
}

/** The connection store, dropping a connection's entry after every write that changes what GetToken answers. */
export function cacheInvalidatingConnections(store: ConnectionStore, cache: CredentialCache): ConnectionStore {
  return invalidating(store, ["activate", "fail", "requireAttention", "revoke", "storeRefreshed"], (args) => cache.invalidate(args[0] as string));
}

/** The provider store, dropping every entry after a provider changes (its strategy shapes every answer). */
export function cacheInvalidatingProviders(store: ProviderStore, cache: CredentialCache): ProviderStore {
  return invalidating(store, ["replace", "softDelete"], () => cache.invalidate());
}
