import { NexusError } from "../../shared/errors.ts";
import type { KeyCheckStore, KeyVerifier, SealedColumnKind, SealedValueStore } from "../domain/ports.ts";
import { sealedFields } from "../domain/sealed-fields.ts";

/** What {@linkcode verifyKeyChecks} reads and writes. */
export interface KeyCheckDeps {
  readonly checks: KeyCheckStore;
  readonly sealed: SealedValueStore;
  readonly vault: KeyVerifier;
}

/** How many stored ciphertexts a key id's first check tries to open. */
const samplesPerKey = 3;

const contextOf: Record<SealedColumnKind, { table: string; field: string }> = {
  provider_client_secret: sealedFields.providerClientSecret,
  credential: sealedFields.credentialSecret,
  handshake_verifier: sealedFields.handshakeVerifier,
  session_signing_key: sealedFields.sessionSigningKey,
};

/**
 * Refuses to run when the key material under a loaded key id is not the one
 * this database was sealed with. Each key id's check value is recorded by the
 * first process that loads it; every later process must compute the same.
 * Without this, a Broker given other bytes under a known id would start, seal
 * new secrets no other Broker can open, and fail on every old one.
 *
 * Throws NexusError `key_unknown` naming the key id, never the key or its check value.
 */
export async function verifyKeyChecks({ checks, sealed, vault }: KeyCheckDeps): Promise<void> {
  for (const keyId of vault.keyIds) {
    const mine = vault.keyCheckValue(keyId);
    let recorded = await checks.get(keyId);
    if (recorded === undefined) {
      // Nothing recorded yet (a new key id, or a database from before check values):
      // prove the key on rows already sealed with it before recording its value,
      // or the first wrong Broker would lock every right one out.
      if (await contradictedByStoredRows(sealed, vault, keyId)) throw wrongKeyMaterial(keyId);
      recorded = await checks.putIfAbsent(keyId, mine);
    }
    // Check values are not secret (they reveal nothing about the key), so a plain comparison is fine.
    if (recorded !== mine) throw wrongKeyMaterial(keyId);
  }
}

// True when stored ciphertexts under `keyId` fail to authenticate and none opens. A
// malformed one, or one naming another key id, proves nothing either way.
async function contradictedByStoredRows(sealed: SealedValueStore, vault: KeyVerifier, keyId: string): Promise<boolean> {
  let failed = 0;
  for (const sample of await sealed.samplesUnder(keyId, samplesPerKey)) {
    try {
      if (vault.keyIdOf(sample.ciphertext) !== keyId) continue;
    } catch {
      continue;
    }
    try {
      vault.open(sample.ciphertext, { ...contextOf[sample.kind], rowId: sample.rowId }).fill(0);
      return false;
    } catch (error) {
      if (!(error instanceof NexusError)) throw error;
      failed++;
    }
  }
  return failed > 0;
}

function wrongKeyMaterial(keyId: string): NexusError {
  return new NexusError(
    "key_unknown",
    `the key material loaded under key id "${keyId}" is not the key this database's secrets were sealed with under that id; ` +
      `load the original key as "${keyId}" in ENCRYPTION_KEYS (or ENCRYPTION_KEY), and give any new key a new key id`,
  );
}
