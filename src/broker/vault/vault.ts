/**
 * The vault seals secrets (refresh tokens, client secrets, PKCE verifiers)
 * into self-describing AES-256-GCM ciphertexts bound to the row and field
 * they are stored in, opens them again, and rewraps them onto the active key
 * during rotation. See `security.md` V-04 to V-08.
 */
// broker/vault/ is the only folder outside src/runtime/ allowed to import node:* (the architecture test enforces it).
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { NexusError } from "../../shared/errors.ts";
import {
  type CiphertextParts,
  ciphertextVersion,
  decodeCiphertext,
  encodeAssociatedData,
  encodeCiphertext,
  nonceLength,
  tagLength,
} from "./ciphertext-format.ts";
import { dataKeyOf, fingerprintKeyOf, type KeyRing } from "./key-ring.ts";

/** Where a ciphertext is stored; bound into it, so it opens nowhere else. */
export interface SealContext {
  /** The table holding the ciphertext, such as `connections`. */
  table: string;
  /** The id of the row holding the ciphertext. */
  rowId: string;
  /** The column or field, such as `refresh_token`. */
  field: string;
}

/** Seals and opens secrets. Errors never carry plaintext or ciphertext bytes. */
export interface Vault {
  /** The key id {@linkcode Vault.seal} uses. */
  readonly activeKeyId: string;
  /** Every loaded key id, in configuration order. */
  readonly keyIds: readonly string[];
  /**
   * The key check value of a loaded key id (see `key-ring.ts`); throws
   * NexusError `key_unknown` for one that is not loaded. Never the key.
   */
  keyCheckValue(keyId: string): string;
  /**
   * A keyed fingerprint of a secret: HMAC-SHA256 under a subkey of the active
   * key, `fp1.<kid>.<base64url>`. Equal secrets give equal fingerprints on
   * every Broker with the same active key; without the key it says nothing of
   * the secret (unlike a plain hash, which a dictionary reverses).
   */
  fingerprint(secret: string): string;
  /** Encrypts `plaintext` (strings as UTF-8) under the active key with a fresh nonce. */
  seal(plaintext: string | Uint8Array, context: SealContext): string;
  /** Decrypts; throws NexusError `key_unknown` or `decrypt_failed`. The caller owns, and should wipe, the result. */
  open(ciphertext: string, context: SealContext): Uint8Array;
  /** Like {@linkcode Vault.open}, decoded as UTF-8. */
  openText(ciphertext: string, context: SealContext): string;
  /** The key id a ciphertext names, read without decrypting. */
  keyIdOf(ciphertext: string): string;
  /** Tells whether a ciphertext is sealed under a key other than the active one. */
  needsRewrap(ciphertext: string): boolean;
  /**
   * Opens with the ciphertext's own key and seals under the active key. A
   * ciphertext already under the active key is verified and returned as is,
   * so a rerun rewrap job neither writes nor spends nonces.
   */
  rewrap(ciphertext: string, context: SealContext): string;
}

const algorithm = "aes-256-gcm";

/** Creates a vault over `keyRing`. */
export function createVault(keyRing: KeyRing): Vault {
  const activeKeyId = keyRing.activeKeyId;
  const activeKey = dataKeyOf(keyRing, activeKeyId);
  if (activeKey === undefined) throw new RangeError(`Active key id "${activeKeyId}" is not in the key ring`);

  const seal = (plaintext: string | Uint8Array, context: SealContext): string => {
    checkContext(context);
    const owned = typeof plaintext === "string";
    if (!owned && !(plaintext instanceof Uint8Array)) throw new TypeError("Plaintext must be a string or a Uint8Array");
    const bytes = owned ? new TextEncoder().encode(plaintext) : plaintext;
    // Random 96-bit nonces are safe up to about 2^32 seals per key (NIST SP 800-38D); rotation keeps us below that.
    const nonce = randomBytes(nonceLength);
    const cipher = createCipheriv(algorithm, activeKey, nonce, { authTagLength: tagLength });
    cipher.setAAD(associatedData(activeKeyId, context));
    const head = cipher.update(bytes);
    const tail = cipher.final();
    if (owned) bytes.fill(0);
    return encodeCiphertext({ keyId: activeKeyId, nonce, body: concat(head, tail, cipher.getAuthTag()) });
  };

  const open = (ciphertext: string, context: SealContext): Uint8Array => {
    checkContext(context);
    let parts: CiphertextParts;
    try {
      parts = decodeCiphertext(ciphertext);
    } catch (error) {
      if (error instanceof NexusError) throw new NexusError(error.reason, `Cannot open ${where(context)}: ${error.message}`);
      throw error;
    }
    const key = dataKeyOf(keyRing, parts.keyId);
    if (key === undefined) {
      throw new NexusError("key_unknown", `Cannot open ${where(context)}: key "${parts.keyId}" is not in the key ring`);
    }
    const split = parts.body.length - tagLength;
    const tag = parts.body.subarray(split);
    // Node once accepted short tags (DEP0182); refuse them here as well as through authTagLength.
    if (split < 0 || tag.length !== tagLength) throw authenticationFailed(parts.keyId, context);
    const decipher = createDecipheriv(algorithm, key, parts.nonce, { authTagLength: tagLength });
    decipher.setAAD(associatedData(parts.keyId, context));
    decipher.setAuthTag(tag);
    // GCM releases plaintext before the tag is checked; wipe it if the check fails.
    const head = decipher.update(parts.body.subarray(0, split));
    try {
      const tail = decipher.final();
      const plaintext = concat(head, tail);
      head.fill(0);
      return plaintext;
    } catch {
      head.fill(0);
      throw authenticationFailed(parts.keyId, context);
    }
  };

  const keyIdOf = (ciphertext: string): string => decodeCiphertext(ciphertext).keyId;

  return Object.freeze({
    activeKeyId,
    keyIds: keyRing.keyIds,
    keyCheckValue(keyId: string): string {
      const value = keyRing.keyCheckValue(keyId);
      if (value === undefined) throw new NexusError("key_unknown", `Key "${keyId}" is not in the key ring`);
      return value;
    },
    fingerprint(secret: string): string {
      const key = fingerprintKeyOf(keyRing, activeKeyId)!;
      return `fp1.${activeKeyId}.${createHmac("sha256", key).update(secret, "utf8").digest("base64url")}`;
    },
    seal,
    open,
    openText(ciphertext: string, context: SealContext): string {
      const bytes = open(ciphertext, context);
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch {
        throw new TypeError(`Cannot open ${where(context)} as text: it is not valid UTF-8`);
      } finally {
        bytes.fill(0);
      }
    },
    keyIdOf,
    needsRewrap: (ciphertext: string) => keyIdOf(ciphertext) !== activeKeyId,
    rewrap(ciphertext: string, context: SealContext): string {
      const plaintext = open(ciphertext, context);
      try {
        return keyIdOf(ciphertext) === activeKeyId ? ciphertext : seal(plaintext, context);
      } finally {
        plaintext.fill(0);
      }
    },
  });
}

// The version and key id travel in clear text, so they are authenticated too:
// editing either breaks the tag rather than steering decryption.
function associatedData(keyId: string, context: SealContext): Uint8Array {
  return encodeAssociatedData([ciphertextVersion, keyId, context.table, context.rowId, context.field]);
}

function checkContext(context: SealContext): void {
  for (const name of ["table", "rowId", "field"] as const) {
    const value: unknown = context?.[name];
    if (typeof value !== "string" || value === "") throw new TypeError(`Seal context "${name}" must be a non-empty string`);
  }
}

function where(context: SealContext): string {
  return `${context.table}.${context.field} of row "${context.rowId}"`;
}

function authenticationFailed(keyId: string, context: SealContext): NexusError {
  return new NexusError("decrypt_failed", `Cannot open ${where(context)} with key "${keyId}": authentication failed`);
}

// Copies into a fresh Uint8Array: Buffer.concat may hand out a slice of Node's
// shared pool, whose .buffer would expose unrelated bytes.
function concat(...chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
