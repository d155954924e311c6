/**
 * Registered agents and the format of their API keys. Pure rules, no I/O
 * except WebCrypto digests and randomness.
 */
import type { JsonObject } from "./provider.ts";

/** A registered agent as stored. Never its key: only the key's digest. */
export interface Agent {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** Provider names it may start connections to; empty means all. */
  readonly allowedProviders: readonly string[];
  /** Public keys its assertions are checked with; null when it has none. */
  readonly jwks: JsonObject | null;
  /** SHA-256 of its API key, lowercase hex; null when it has none. */
  readonly keyDigest: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly disabledAt: Date | null;
  readonly version: bigint;
}

/** The prefix of every agent API key: secret scanners match on it. */
export const agentKeyPrefix = "nxa_";

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const secretLength = 43; // 32 random bytes in base62
const checksumLength = 6; // CRC-32 in base62
/** `nxa_`, the agent id as 32 hex digits, 43 base62 characters of secret, a 6-character base62 CRC-32 of all before it. */
export const agentKeyPattern = /^nxa_([0-9a-f]{32})([0-9A-Za-z]{43})([0-9A-Za-z]{6})$/;

/**
 * Makes a new API key for `agentId`. The key names its agent (so the Broker
 * finds the agent without a search, and a leaked key says whose it is) and
 * ends in a checksum (so scanners and the Broker reject typos and random
 * strings without a database read).
 */
export function newAgentKey(agentId: string, randomBytes: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n))): string {
  const body = `${agentKeyPrefix}${agentId.replaceAll("-", "")}${encodeBase62(randomBytes(32), secretLength)}`;
  return `${body}${encodeBase62(crc32Bytes(body), checksumLength)}`;
}

/** The agent id a well-formed key names, or undefined when the key is not one of ours (or its checksum fails). */
export function agentIdOfKey(key: string): string | undefined {
  const m = agentKeyPattern.exec(key);
  if (m === null) return undefined;
  const body = key.slice(0, key.length - checksumLength);
  if (encodeBase62(crc32Bytes(body), checksumLength) !== m[3]) return undefined;
  const h = m[1]!;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** SHA-256 of a key, lowercase hex: what is stored and compared. */
export async function keyDigest(key: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two digests without an early exit. */
export function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Fixed-width base62 of a big-endian byte string (leading zeros kept as "0"). */
function encodeBase62(bytes: Uint8Array, width: number): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = "";
  for (let i = 0; i < width; i++) {
    out = base62[Number(n % 62n)]! + out;
    n /= 62n;
  }
  return out;
}

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE) of a string's UTF-8 bytes, as 4 big-endian bytes. */
function crc32Bytes(text: string): Uint8Array {
  let c = 0xffffffff;
  for (const b of new TextEncoder().encode(text)) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  c = (c ^ 0xffffffff) >>> 0;
  return new Uint8Array([c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff]);
}
