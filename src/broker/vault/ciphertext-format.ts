/**
 * The self-describing text form of a vault ciphertext,
 * `nx1.<kid>.<base64url(nonce)>.<base64url(ciphertext || tag)>`, and the
 * canonical associated-data encoding that goes with it. Pure: no `node:`
 * imports and no `Buffer`, so it runs anywhere.
 */
import { NexusError } from "../../shared/errors.ts";

/** The format version written first in every ciphertext and bound into its associated data. */
export const ciphertextVersion = "nx1";
/** What a key id may look like; it sits unescaped between dots. */
export const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;
/** Bytes of AES-GCM nonce. */
export const nonceLength = 12;
/** Bytes of AES-GCM authentication tag. */
export const tagLength = 16;

/** The parts of a decoded ciphertext. */
export interface CiphertextParts {
  /** The key id the ciphertext was sealed under. */
  readonly keyId: string;
  /** The AES-GCM nonce, exactly {@linkcode nonceLength} bytes. */
  readonly nonce: Uint8Array;
  /** The encrypted bytes followed by the {@linkcode tagLength}-byte tag. */
  readonly body: Uint8Array;
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const sextets = new Int8Array(128).fill(-1);
for (let i = 0; i < alphabet.length; i++) sextets[alphabet.charCodeAt(i)] = i;

/** Encodes `parts` as text; throws a TypeError or RangeError on parts it could never decode. */
export function encodeCiphertext(parts: CiphertextParts): string {
  if (!keyIdPattern.test(parts.keyId)) {
    throw new RangeError(`Key id ${JSON.stringify(parts.keyId)} must be 1 to 32 letters, digits, - or _`);
  }
  if (parts.nonce.length !== nonceLength) throw new RangeError(`Nonce must be ${nonceLength} bytes; got ${parts.nonce.length}`);
  if (parts.body.length < tagLength) throw new RangeError(`Body must hold at least the ${tagLength}-byte tag; got ${parts.body.length} bytes`);
  return [ciphertextVersion, parts.keyId, toBase64Url(parts.nonce), toBase64Url(parts.body)].join(".");
}

/**
 * Decodes a ciphertext's text form without decrypting it. Throws a NexusError
 * `decrypt_failed` naming what is wrong; the message never quotes the input,
 * since a garbled ciphertext may still hold secret bytes.
 */
export function decodeCiphertext(text: string): CiphertextParts {
  const parts = text.split(".");
  if (parts.length !== 4) malformed(`expected 4 dot-separated parts, got ${parts.length}`);
  const [version, keyId, nonceText, bodyText] = parts as [string, string, string, string];
  if (version !== ciphertextVersion) malformed(`unsupported version; expected "${ciphertextVersion}"`);
  if (!keyIdPattern.test(keyId)) malformed("key id is not 1 to 32 letters, digits, - or _");
  const nonce = fromBase64Url(nonceText);
  if (nonce === undefined) malformed("nonce is not unpadded base64url");
  if (nonce.length !== nonceLength) malformed(`nonce is ${nonce.length} bytes, expected ${nonceLength}`);
  const body = fromBase64Url(bodyText);
  if (body === undefined) malformed("body is not unpadded base64url");
  if (body.length < tagLength) malformed(`body is ${body.length} bytes, shorter than the ${tagLength}-byte tag`);
  return { keyId, nonce, body };
}

/**
 * Encodes `items` as associated data: each item as a 4-byte big-endian
 * length then its UTF-8 bytes. Length prefixes keep it injective, so
 * ("a.b", "c") and ("a", "b.c") never authenticate as each other.
 */
export function encodeAssociatedData(items: readonly string[]): Uint8Array {
  const encoder = new TextEncoder();
  const encoded = items.map((item) => encoder.encode(item));
  const out = new Uint8Array(encoded.reduce((n, e) => n + 4 + e.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const e of encoded) {
    view.setUint32(at, e.length);
    out.set(e, at + 4);
    at += 4 + e.length;
  }
  return out;
}

function malformed(problem: string): never {
  throw new NexusError("decrypt_failed", `Ciphertext is malformed: ${problem}`);
}

function toBase64Url(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(bytes.length - i, 3) + 1;
    for (let c = 0; c < chars; c++) out += alphabet[(n >> (18 - 6 * c)) & 63];
  }
  return out;
}

// Strict: no padding, no foreign characters, and zero unused trailing bits,
// so each byte string has exactly one accepted text and a flipped character
// can never decode to the same bytes.
function fromBase64Url(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let buffered = 0;
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? sextets[code]! : -1;
    if (value < 0) return undefined;
    bits = ((bits << 6) | value) & 0xffffff;
    buffered += 6;
    if (buffered >= 8) {
      buffered -= 8;
      out[at++] = (bits >> buffered) & 0xff;
    }
  }
  if ((bits & ((1 << buffered) - 1)) !== 0) return undefined;
  return out;
}
