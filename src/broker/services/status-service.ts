import type { SealedValueStore, StatusStore } from "../domain/ports.ts";

/** The Broker as an operator checks it (`nexus doctor`). */
export interface BrokerStatus {
  readonly serverTime: Date;
  readonly databaseReachable: boolean;
  readonly migrationsKnown: readonly string[];
  readonly migrationsApplied: readonly string[];
  readonly activeKeyId: string;
  readonly loadedKeyIds: readonly string[];
  readonly keyIdsInUse: readonly string[];
  readonly quarantinedRows: number;
  readonly instanceId: string;
}

/** What the status reads. */
export interface StatusServiceDeps {
  readonly store: StatusStore;
  readonly sealed: Pick<SealedValueStore, "keyIdsInUse">;
  readonly keys: { readonly activeKeyId: string; readonly keyIds: readonly string[] };
  readonly migrationsKnown: readonly string[];
  readonly instanceId: string;
  readonly now: () => number;
}

/**
 * Reads the Broker's status. A database out of reach is a status, not an
 * error: the answer says so and leaves the database's fields empty.
 */
export function createStatusService(deps: StatusServiceDeps): { get(): Promise<BrokerStatus> } {
  return {
    async get() {
      const base = {
        serverTime: new Date(deps.now()), migrationsKnown: deps.migrationsKnown, activeKeyId: deps.keys.activeKeyId,
        loadedKeyIds: deps.keys.keyIds, instanceId: deps.instanceId,
      };
      try {
        const [migrationsApplied, keyIdsInUse, quarantinedRows] = await Promise.all([
          deps.store.migrationsApplied(), deps.sealed.keyIdsInUse(), deps.store.quarantinedRows(),
        ]);
        return { ...base, databaseReachable: true, migrationsApplied, keyIdsInUse, quarantinedRows };
      } catch {
        return { ...base, databaseReachable: false, migrationsApplied: [], keyIdsInUse: [], quarantinedRows: 0 };
      }
    },
  };
}
