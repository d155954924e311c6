import { NexusError } from "../../shared/errors.ts";
import type { Rewrapper, SealedColumnKind, SealedValueStore } from "../domain/ports.ts";

const kinds: readonly SealedColumnKind[] = ["provider_client_secret", "credential", "handshake_verifier"];

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

/**
 * Re-seals every stored secret under the active key, in small locked batches,
 * so it runs while the Broker serves. Safe to stop and run again.
 */
export async function rewrapAll(store: SealedValueStore, rewrapper: Rewrapper, batchSize = 200): Promise<Record<SealedColumnKind, number>> {
  const moved = { provider_client_secret: 0, credential: 0, handshake_verifier: 0 };
  for (const kind of kinds) {
    for (;;) {
      const n = await store.rewrapBatch(kind, rewrapper, batchSize);
      moved[kind] += n;
      if (n === 0) break;
    }
  }
  return moved;
}
