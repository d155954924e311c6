import { NexusError } from "../../shared/errors.ts";
import type { QuarantineStore, Rewrapper, SealedColumnKind, SealedRowRef, SealedValueStore, UnopenableRow } from "../domain/ports.ts";

const kinds: readonly SealedColumnKind[] = ["provider_client_secret", "credential", "handshake_verifier", "session_signing_key"];

/**
 * Refuses to run when a stored secret was sealed with a key that is not
 * loaded: starting anyway would fail later, on some agent's request, with an
 * undecryptable credential.
 */
export async function assertKeysLoaded(store: SealedValueStore, loaded: readonly string[]): Promise<void> {
  const missing = (await store.keyIdsInUse()).filter((kid) => !loaded.includes(kid));
  if (missing.length > 0) {
    throw new NexusError(
      "key_unknown",
      `stored secrets are sealed with key id(s) ${missing.map((k) => `"${k}"`).join(", ")}, which are not loaded; ` +
        `add them to ENCRYPTION_KEYS (kid:base64key) and keep ENCRYPTION_ACTIVE_KEY on the new key`,
    );
  }
}

/** What {@linkcode rewrapAll} works on. */
export interface RewrapDeps {
  readonly sealed: SealedValueStore;
  readonly quarantine: QuarantineStore;
  readonly rewrapper: Rewrapper;
}

/** Options of {@linkcode rewrapAll}. */
export interface RewrapOptions {
  /** Rows per transaction. @default 200 */
  readonly batchSize?: number;
  /** How long to keep coming back for rows a refresh holds (twice the longest lease is plenty). @default 130000 */
  readonly leaseWaitMs?: number;
  /** Pause between passes while only held rows are left. @default 1000 */
  readonly pollMs?: number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default Date.now */
  readonly now?: () => number;
  /** Told about each quarantined row as soon as it is found. */
  readonly onQuarantine?: (row: UnopenableRow) => void;
}

/** The outcome of {@linkcode rewrapAll}. */
export interface RewrapReport {
  /** Rows moved onto the active key, per kind. */
  readonly moved: Record<SealedColumnKind, number>;
  /** Rows that did not open; recorded in the quarantine and left as they were. */
  readonly quarantined: readonly UnopenableRow[];
  /**
   * Rows still on an old key when the wait ran out: a refresh kept them leased
   * (`leased`), a transaction kept them locked, or a Broker still sealing with
   * the old key wrote them back after the last pass.
   */
  readonly leftBehind: readonly (SealedRowRef & { readonly leased: boolean })[];
}

/**
 * Re-seals every stored secret under the active key, in small locked batches,
 * so it runs while Brokers serve. It never changes what a refresh compares
 * (a credential's version) and skips credentials being refreshed, coming back
 * for them until none is left on an old key: a Broker still sealing with the
 * old key may also write rows back, and the next pass takes them. A row that
 * does not open is quarantined and skipped for the rest of the run. Safe to
 * stop and run again.
 */
export async function rewrapAll({ sealed, quarantine, rewrapper }: RewrapDeps, options: RewrapOptions = {}): Promise<RewrapReport> {
  const batchSize = options.batchSize ?? 200;
  const leaseWaitMs = options.leaseWaitMs ?? 130_000;
  const pollMs = options.pollMs ?? 1000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const moved = { provider_client_secret: 0, credential: 0, handshake_verifier: 0, session_signing_key: 0 };
  const quarantined: UnopenableRow[] = [];
  const excluded: Record<SealedColumnKind, string[]> = { provider_client_secret: [], credential: [], handshake_verifier: [], session_signing_key: [] };
  let waitUntil: number | undefined;
  for (;;) {
    for (const kind of kinds) {
      for (;;) {
        const batch = await sealed.rewrapBatch(kind, rewrapper, { limit: batchSize, exclude: excluded[kind] });
        moved[kind] += batch.moved;
        if (batch.unopenable.length > 0) {
          await quarantine.record(batch.unopenable);
          for (const row of batch.unopenable) {
            excluded[kind].push(row.rowId);
            quarantined.push(row);
            options.onQuarantine?.(row);
          }
        }
        if (batch.moved === 0 && batch.unopenable.length === 0) break;
      }
    }
    const left = await sealed.leftOnOldKeys(rewrapper.activeKeyId, excluded);
    // The wait is bounded from the first pass that could not finish, so a refresh
    // storm or a Broker still sealing with the old key cannot keep us here forever.
    const at = now();
    waitUntil ??= at + leaseWaitMs;
    if (left.length === 0 || at >= waitUntil) {
      await quarantine.prune(rewrapper.activeKeyId);
      return { moved, quarantined, leftBehind: left };
    }
    await sleep(Math.min(pollMs, waitUntil - at));
  }
}
