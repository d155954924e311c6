/**
 * The format of agent API keys (src/broker/domain/agent.ts):
 * nxa_<agent id as 32 hex><43 base62 of secret><6 base62 of CRC-32>. The key
 * names its agent, and its checksum makes every typo fail before any database
 * read.
 */
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { crc32 } from "node:zlib";
import { describe, it } from "node:test";
import { agentIdOfKey, agentKeyPattern, keyDigest, newAgentKey, sameDigest } from "../../src/broker/domain/agent.ts";

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** The format API.md promises and secret scanners match. */
const published = /^nxa_[0-9a-f]{32}[0-9A-Za-z]{49}$/;
const fixed = (byte: number) => (n: number) => new Uint8Array(n).fill(byte);

describe("agent API keys", () => {
  it("newAgentKey() makes a key of the published format that names its agent", () => {
    const id = randomUUID();
    const key = newAgentKey(id);
    assert.match(key, published);
    assert.match(key, agentKeyPattern);
    assert.equal(key.slice(4, 36), id.replaceAll("-", ""));
  });

  it("newAgentKey() uses its randomness: other bytes, another secret; the same bytes, the same key", () => {
    const id = randomUUID();
    assert.equal(newAgentKey(id, fixed(7)), newAgentKey(id, fixed(7)));
    assert.notEqual(newAgentKey(id, fixed(7)), newAgentKey(id, fixed(8)));
    assert.notEqual(newAgentKey(id), newAgentKey(id));
  });

  it("newAgentKey() keeps all 32 random bytes: the secret's 43 characters decode back to them, the largest included", () => {
    const decode = (text: string) => [...text].reduce((n, c) => n * 62n + BigInt(base62.indexOf(c)), 0n);
    const id = randomUUID();
    assert.equal(decode(newAgentKey(id, fixed(0xff)).slice(36, 79)), 2n ** 256n - 1n);
    assert.equal(decode(newAgentKey(id, fixed(0)).slice(36, 79)), 0n);
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const value = bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
    assert.equal(decode(newAgentKey(id, () => bytes).slice(36, 79)), value);
  });

  it("newAgentKey() ends in the CRC-32 (IEEE) of everything before it, so a secret scanner can check a key offline", () => {
    const decode = (text: string) => [...text].reduce((n, c) => n * 62n + BigInt(base62.indexOf(c)), 0n);
    for (let i = 0; i < 50; i++) {
      const key = newAgentKey(randomUUID());
      assert.equal(decode(key.slice(-6)), BigInt(crc32(key.slice(0, -6))));
    }
  });

  it("agentIdOfKey() returns the id a key was made for (round trip), for many ids and secrets", () => {
    for (let i = 0; i < 500; i++) {
      const id = randomUUID();
      assert.equal(agentIdOfKey(newAgentKey(id)), id);
    }
    for (const id of ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-4fff-bfff-ffffffffffff"]) {
      for (const byte of [0, 0x7f, 0xff]) assert.equal(agentIdOfKey(newAgentKey(id, fixed(byte))), id);
    }
  });

  it("agentIdOfKey() refuses every single-character change, at every position, to any other character", () => {
    const key = newAgentKey(randomUUID());
    let tried = 0;
    for (let i = 0; i < key.length; i++) {
      for (const c of `${base62}_-`) {
        if (c === key[i]) continue;
        const changed = `${key.slice(0, i)}${c}${key.slice(i + 1)}`;
        tried++;
        assert.equal(agentIdOfKey(changed), undefined, `position ${i}: ${key[i]} -> ${c}`);
      }
    }
    assert.equal(tried, key.length * 63);
  });

  it("agentIdOfKey() refuses a key with a character dropped, added or two swapped", () => {
    const key = newAgentKey(randomUUID());
    for (let i = 0; i < key.length; i++) {
      assert.equal(agentIdOfKey(`${key.slice(0, i)}${key.slice(i + 1)}`), undefined, `dropped ${i}`);
      assert.equal(agentIdOfKey(`${key.slice(0, i)}A${key.slice(i)}`), undefined, `added at ${i}`);
      if (i + 1 < key.length && key[i] !== key[i + 1]) {
        assert.equal(agentIdOfKey(`${key.slice(0, i)}${key[i + 1]}${key[i]}${key.slice(i + 2)}`), undefined, `swapped ${i}`);
      }
    }
  });

  it("agentIdOfKey() returns undefined for junk, whitespace around a key, and look-alikes", () => {
    const key = newAgentKey(randomUUID());
    const junk = [
      "", "nxa_", "nxa", "NXA_", key.toUpperCase(), `${key.slice(0, 4)}${key.slice(4, 36).toUpperCase()}${key.slice(36)}`,
      ` ${key}`, `${key} `, `${key}\n`, `\t${key}`, `Bearer ${key}`, `${key}${key}`,
      `nxa_${"0".repeat(81)}`, `nxa_${"z".repeat(81)}`, `xxa_${key.slice(4)}`, `nxa-${key.slice(4)}`,
      key.replace(/a/, "\u0430"), // Cyrillic a
      `${key.slice(0, -6)}\u0000\u0000\u0000\u0000\u0000\u0000`,
      "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", "agent-key-from-AGENT_API_KEYS",
    ];
    for (const j of junk) assert.equal(agentIdOfKey(j), undefined, JSON.stringify(j.slice(0, 40)));
  });

  it("keyDigest() is SHA-256 as lowercase hex, and sameDigest() compares digests exactly", async () => {
    const key = newAgentKey(randomUUID());
    const digest = await keyDigest(key);
    assert.equal(digest, createHash("sha256").update(key).digest("hex"));
    assert.match(digest, /^[0-9a-f]{64}$/);
    assert.equal(sameDigest(digest, digest), true);
    assert.equal(sameDigest(digest, await keyDigest(newAgentKey(randomUUID()))), false);
    assert.equal(sameDigest(digest, `${digest.slice(0, -1)}${digest.endsWith("0") ? "1" : "0"}`), false, "the last character counts");
    assert.equal(sameDigest(digest, digest.slice(0, 63)), false, "a prefix is not the digest");
    assert.equal(sameDigest("", digest), false);
  });
});
