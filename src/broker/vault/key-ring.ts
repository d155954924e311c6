/**
 * The vault's key ring: the configured master keys by key id, and the one new
 * ciphertexts are sealed with. Master keys never encrypt anything themselves;
 * each is run through HKDF into per-purpose subkeys, so adding a purpose later
 * (state MACs, fingerprints) never reuses a key across two algorithms.
 */
import { createHmac, createSecretKey, hkdfSync, type KeyObject } from "node:crypto";
import { ciphertextVersion, keyIdPattern } from "./ciphertext-format.ts";

/** Master keys by key id, and which one seals. Holds no key material on its surface. */
export interface KeyRing {
  /** The key id new ciphertexts are sealed with. */
  readonly activeKeyId: string;
  /** Every loaded key id, in configuration order. */
  readonly keyIds: readonly string[];
  /** Tells whether `keyId` is loaded. */
  has(keyId: string): boolean;
  /**
   * The key check value of `keyId` (base64url), or `undefined` when it is not
   * loaded: equal for the same key bytes under the same id, and revealing
   * nothing about the key or its data key.
   */
  keyCheckValue(keyId: string): string | undefined;
}

/** Bytes of every master key, and of every derived subkey. */
export const masterKeyLength = 32;

// Fixed rather than random: derivation must give the same subkey on every
// replica and after every restart, and the master keys are already uniform.
const hkdfSalt = "nexus-vault";
const dataKeyInfoPrefix = `aes-256-gcm/${ciphertextVersion}/`;
// A purpose of its own: the check value is an HMAC under a subkey that
// encrypts nothing, so publishing it tells nothing about any data key.
const keyCheckInfoPrefix = "key-check/v1/";
const keyCheckLabel = "nexus vault key check value";

// Subkeys live beside the ring rather than on it, so nothing that holds a
// KeyRing (a log line, a debugger, JSON.stringify) can reach them; only the
// vault, through dataKeyOf, can.
const dataKeys = new WeakMap<KeyRing, ReadonlyMap<string, KeyObject>>();
const fingerprintKeys = new WeakMap<KeyRing, ReadonlyMap<string, KeyObject>>();
const fingerprintInfoPrefix = "fingerprint/v1/";

/**
 * Validates `keys` and `activeKeyId` and derives each key's AES-256-GCM data
 * key. Throws a TypeError or RangeError naming the offending key id; key bytes
 * are never quoted.
 */
export function createKeyRing(keys: ReadonlyMap<string, Uint8Array>, activeKeyId: string): KeyRing {
  if (typeof keys !== "object" || keys === null) throw new TypeError("Key ring keys must be a Map of key id to key bytes");
  if (typeof activeKeyId !== "string") throw new TypeError("Active key id must be a string");
  const derived = new Map<string, KeyObject>();
  const checkValues = new Map<string, string>();
  const fingerprinting = new Map<string, KeyObject>();
  for (const [keyId, key] of keys) {
    if (typeof keyId !== "string" || !keyIdPattern.test(keyId)) {
      throw new RangeError(`Key id ${JSON.stringify(String(keyId)).slice(0, 40)} must be 1 to 32 letters, digits, - or _`);
    }
    if (!(key instanceof Uint8Array)) throw new TypeError(`Key "${keyId}" must be a Uint8Array`);
    if (key.length !== masterKeyLength) {
      throw new RangeError(`Key "${keyId}" must be exactly ${masterKeyLength} bytes; got ${key.length}`);
    }
    derived.set(keyId, deriveSubkey(key, `${dataKeyInfoPrefix}${keyId}`));
    checkValues.set(keyId, keyCheckValueOf(key, keyId));
    fingerprinting.set(keyId, deriveSubkey(key, `${fingerprintInfoPrefix}${keyId}`));
  }
  if (!derived.has(activeKeyId)) {
    const known = [...derived.keys()].map((k) => `"${k}"`).join(", ") || "none";
    throw new RangeError(`Active key id ${JSON.stringify(activeKeyId).slice(0, 40)} is not in the key ring (loaded: ${known})`);
  }
  const keyIds = Object.freeze([...derived.keys()]);
  const ring: KeyRing = Object.freeze({
    activeKeyId,
    keyIds,
    has: (keyId: string) => derived.has(keyId),
    keyCheckValue: (keyId: string) => checkValues.get(keyId),
  });
  dataKeys.set(ring, derived);
  fingerprintKeys.set(ring, fingerprinting);
  return ring;
}

/**
 * The AES-256-GCM data key of `keyId` in `ring`, or `undefined` when the key
 * id is not loaded. For the vault only; nothing outside `broker/vault/` may
 * import it (the architecture test keeps everyone else out of this folder).
 */
export function dataKeyOf(ring: KeyRing, keyId: string): KeyObject | undefined {
  const keys = dataKeys.get(ring);
  if (keys === undefined) throw new TypeError("Key ring was not made by createKeyRing");
  return keys.get(keyId);
}

/** The HMAC key that fingerprints secrets under `keyId` (its own HKDF purpose). For the vault only. */
export function fingerprintKeyOf(ring: KeyRing, keyId: string): KeyObject | undefined {
  return fingerprintKeys.get(ring)?.get(keyId);
}

// The key id is in the info, so one key loaded under two ids has two check values,
// just as it has two data keys.
function keyCheckValueOf(master: Uint8Array, keyId: string): string {
  return createHmac("sha256", deriveSubkey(master, `${keyCheckInfoPrefix}${keyId}`)).update(keyCheckLabel).digest("base64url");
}

function deriveSubkey(master: Uint8Array, info: string): KeyObject {
  const bytes = new Uint8Array(hkdfSync("sha256", master, hkdfSalt, info, masterKeyLength));
  try {
    // createSecretKey copies; wipe our copy so the subkey lives only in the KeyObject.
    return createSecretKey(bytes);
  } finally {
    bytes.fill(0);
  }
}
