import assert from "node:assert/strict";
import { createDecipheriv, createHmac, hkdfSync, randomBytes, randomInt } from "node:crypto";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import { NexusError, type ErrorReason } from "../../src/shared/errors.ts";
import { decodeCiphertext, encodeCiphertext } from "../../src/broker/vault/ciphertext-format.ts";
import { createKeyRing } from "../../src/broker/vault/key-ring.ts";
import { createVault, type SealContext } from "../../src/broker/vault/vault.ts";

const oldKey = new Uint8Array(randomBytes(32));
const newKey = new Uint8Array(randomBytes(32));
const keys = new Map([
  ["old", oldKey],
  ["new", newKey],
]);
const vault = createVault(createKeyRing(keys, "new"));
const oldVault = createVault(createKeyRing(keys, "old"));
const ctx: SealContext = { table: "connections", rowId: "conn_1", field: "refresh_token" };
const canary = "CANARY_SECRET_123";

/** Asserts `fn` throws a NexusError with `reason`, and returns it. */
function throwsNexus(fn: () => unknown, reason: ErrorReason): NexusError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof NexusError, `expected a NexusError ${reason}, got ${String(caught)}`);
  assert.equal(caught.reason, reason, caught.message);
  return caught;
}

/**
 * Re-encodes `text` after `edit` changes its decoded parts. Encodes by hand, not
 * with encodeCiphertext, so it can build texts the encoder would refuse.
 */
function tamper(text: string, edit: (p: { keyId: string; nonce: Uint8Array; body: Uint8Array }) => void): string {
  const p = decodeCiphertext(text);
  const copy = { keyId: p.keyId, nonce: p.nonce.slice(), body: p.body.slice() };
  edit(copy);
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
  return `nx1.${copy.keyId}.${b64(copy.nonce)}.${b64(copy.body)}`;
}

describe("vault", () => {
  it("seal() then open() round-trips random plaintexts of many sizes", () => {
    const sizes = [0, 1, 15, 16, 17, 1024, 65536, ...Array.from({ length: 20 }, () => randomInt(0, 65537))];
    for (const size of sizes) {
      const plaintext = new Uint8Array(randomBytes(size));
      const sealed = vault.seal(plaintext, ctx);
      assert.match(sealed, /^nx1\.new\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
      assert.deepEqual(vault.open(sealed, ctx), plaintext, `size ${size}`);
    }
  });

  it("openText() round-trips strings with unicode and NUL bytes", () => {
    const texts = ["", "a", "\0", "a\0b\0\0c", "héllo wörld", "日本語のトークン", "🔑 emoji \u{1F600}\u{10FFFF}", canary, "x".repeat(65536)];
    for (const text of texts) {
      const sealed = vault.seal(text, ctx);
      assert.equal(vault.openText(sealed, ctx), text);
      assert.deepEqual(vault.open(sealed, ctx), new TextEncoder().encode(text));
    }
  });

  it("seal() uses a fresh nonce every time, even for the same plaintext", () => {
    const a = vault.seal(canary, ctx);
    const b = vault.seal(canary, ctx);
    assert.notEqual(a, b);
    assert.notDeepEqual(decodeCiphertext(a).nonce, decodeCiphertext(b).nonce);
    assert.equal(vault.openText(a, ctx), canary);
    assert.equal(vault.openText(b, ctx), canary);
    const nonces = new Set(Array.from({ length: 200 }, () => vault.seal("same", ctx).split(".")[2]));
    assert.equal(nonces.size, 200);
  });

  it("open() rejects a flipped bit anywhere in the nonce, the body or the tag", () => {
    const sealed = vault.seal(new Uint8Array(randomBytes(32)), ctx);
    const { nonce, body } = decodeCiphertext(sealed);
    for (let bit = 0; bit < nonce.length * 8; bit++) {
      const bad = tamper(sealed, (p) => void (p.nonce[bit >> 3] ^= 1 << (bit & 7)));
      throwsNexus(() => vault.open(bad, ctx), "decrypt_failed");
    }
    // The last 128 bits of the body are the tag.
    for (let bit = 0; bit < body.length * 8; bit++) {
      const bad = tamper(sealed, (p) => void (p.body[bit >> 3] ^= 1 << (bit & 7)));
      throwsNexus(() => vault.open(bad, ctx), "decrypt_failed");
    }
  });

  it("open() rejects a changed version as decrypt_failed and a changed kid as key_unknown or decrypt_failed", () => {
    const sealed = vault.seal(canary, ctx);
    const rest = sealed.slice("nx1.".length);
    for (const version of ["nx2", "nx0", "Nx1", "nx", "nx1 ", ""]) {
      throwsNexus(() => vault.open(`${version}.${rest}`, ctx), "decrypt_failed");
    }
    // A kid the ring lacks cannot even be tried.
    throwsNexus(() => vault.open(sealed.replace("nx1.new.", "nx1.ghost."), ctx), "key_unknown");
    // A kid the ring has is the wrong key and is bound in the associated data.
    throwsNexus(() => vault.open(sealed.replace("nx1.new.", "nx1.old."), ctx), "decrypt_failed");
    // Two kids with the same master key still derive different keys.
    const twin = createVault(createKeyRing(new Map([["a", newKey], ["b", newKey]]), "a"));
    throwsNexus(() => twin.open(twin.seal(canary, ctx).replace("nx1.a.", "nx1.b."), ctx), "decrypt_failed");
  });

  it("open() rejects a ciphertext moved to another row, field or table", () => {
    const rowA = { table: "connections", rowId: "conn_A", field: "refresh_token" };
    const rowB = { ...rowA, rowId: "conn_B" };
    const sealedA = vault.seal("token-of-A", rowA);
    const sealedB = vault.seal("token-of-B", rowB);
    throwsNexus(() => vault.open(sealedA, rowB), "decrypt_failed");
    throwsNexus(() => vault.open(sealedB, rowA), "decrypt_failed");
    throwsNexus(() => vault.open(sealedA, { ...rowA, field: "access_token" }), "decrypt_failed");
    throwsNexus(() => vault.open(sealedA, { ...rowA, table: "providers" }), "decrypt_failed");
    throwsNexus(() => vault.open(sealedA, { ...rowA, rowId: "conn_a" }), "decrypt_failed");
    // Length prefixes keep ("12", "3") and ("1", "23") apart where plain concatenation would not.
    const sealed = vault.seal(canary, { table: "t", rowId: "12", field: "3" });
    throwsNexus(() => vault.open(sealed, { table: "t", rowId: "1", field: "23" }), "decrypt_failed");
    assert.equal(vault.openText(sealedA, rowA), "token-of-A");
  });

  it("open() rejects a tag truncated to 12, 8 or 4 bytes", () => {
    for (const plaintext of [canary, ""]) {
      const sealed = vault.seal(plaintext, ctx);
      for (const kept of [12, 8, 4]) {
        const bad = tamper(sealed, (p) => void (p.body = p.body.subarray(0, p.body.length - (16 - kept))));
        throwsNexus(() => vault.open(bad, ctx), "decrypt_failed");
      }
    }
  });

  it("open() names an unknown kid as key_unknown", () => {
    const other = createVault(createKeyRing(new Map([["other", new Uint8Array(randomBytes(32))]]), "other"));
    const error = throwsNexus(() => other.open(vault.seal(canary, ctx), ctx), "key_unknown");
    assert.match(error.message, /key "new" is not in the key ring/);
  });

  it("keyIdOf() and needsRewrap() read the kid without decrypting", () => {
    const stranger = createVault(createKeyRing(new Map([["x", new Uint8Array(randomBytes(32))]]), "x"));
    const sealed = oldVault.seal(canary, ctx);
    assert.equal(stranger.keyIdOf(sealed), "old");
    assert.equal(stranger.needsRewrap(sealed), true);
    assert.equal(vault.keyIdOf(vault.seal(canary, ctx)), "new");
    throwsNexus(() => vault.keyIdOf("not a ciphertext"), "decrypt_failed");
  });

  it("rewrap() moves a ciphertext from the old key to the active key", () => {
    assert.equal(vault.activeKeyId, "new");
    assert.equal(oldVault.activeKeyId, "old");
    const sealed = oldVault.seal(canary, ctx);
    assert.equal(vault.keyIdOf(sealed), "old");
    assert.equal(vault.needsRewrap(sealed), true);
    const rewrapped = vault.rewrap(sealed, ctx);
    assert.equal(vault.keyIdOf(rewrapped), "new");
    assert.equal(vault.needsRewrap(rewrapped), false);
    assert.equal(vault.openText(rewrapped, ctx), canary);
    // Still bound to its row, and rewrapping it again changes nothing.
    throwsNexus(() => vault.open(rewrapped, { ...ctx, rowId: "conn_2" }), "decrypt_failed");
    assert.equal(vault.rewrap(rewrapped, ctx), rewrapped);
    throwsNexus(() => vault.rewrap(sealed, { ...ctx, field: "access_token" }), "decrypt_failed");
  });

  it("seals under a key derived with HKDF-SHA256 and the documented associated data", () => {
    const sealed = vault.seal(canary, ctx);
    const { nonce, body } = decodeCiphertext(sealed);
    const aad = Buffer.concat(["nx1", "new", ctx.table, ctx.rowId, ctx.field].map((item) => {
      const bytes = Buffer.from(item, "utf8");
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return Buffer.concat([length, bytes]);
    }));
    const tryOpen = (key: Uint8Array) => {
      const d = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
      d.setAAD(aad);
      d.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString("utf8");
    };
    const derived = new Uint8Array(hkdfSync("sha256", newKey, "nexus-vault", "aes-256-gcm/nx1/new", 32));
    assert.equal(tryOpen(derived), canary);
    assert.throws(() => tryOpen(newKey), /unable to authenticate/);
  });

  it("seal() refuses an empty context field", () => {
    for (const name of ["table", "rowId", "field"] as const) {
      assert.throws(() => vault.seal(canary, { ...ctx, [name]: "" }), { name: "TypeError", message: new RegExp(`"${name}"`) });
    }
  });

  it("openText() refuses bytes that are not UTF-8", () => {
    const sealed = vault.seal(new Uint8Array([0xff, 0xfe, 0x41]), ctx);
    assert.throws(() => vault.openText(sealed, ctx), { name: "TypeError", message: /not valid UTF-8/ });
  });
});

describe("decodeCiphertext()", () => {
  const good = vault.seal(canary, ctx);
  const [, , nonceText, bodyText] = good.split(".") as [string, string, string, string];
  const b64 = (n: number) => Buffer.from(randomBytes(n)).toString("base64url");

  it("rejects each malformation with decrypt_failed naming the problem", () => {
    const cases: [string, RegExp][] = [
      [`nx1.new.${nonceText}`, /expected 4 dot-separated parts, got 3/],
      [`${good}.extra`, /expected 4 dot-separated parts, got 5/],
      [`nx9.new.${nonceText}.${bodyText}`, /unsupported version/],
      [`nx1.bad kid.${nonceText}.${bodyText}`, /key id/],
      [`nx1..${nonceText}.${bodyText}`, /key id/],
      [`nx1.${"k".repeat(33)}.${nonceText}.${bodyText}`, /key id/],
      [`nx1.new.${b64(11)}.${bodyText}`, /nonce is 11 bytes, expected 12/],
      [`nx1.new.${b64(13)}.${bodyText}`, /nonce is 13 bytes, expected 12/],
      [`nx1.new.${nonceText}.${b64(15)}`, /body is 15 bytes, shorter than the 16-byte tag/],
      [`nx1.new.${nonceText}.`, /body is 0 bytes/],
      [`nx1.new.${nonceText}=.${bodyText}`, /nonce is not unpadded base64url/],
      [`nx1.new.${nonceText}.${bodyText.slice(0, -1)}+`, /body is not unpadded base64url/],
      [`nx1.new.${nonceText}.${bodyText}A`, /body is not unpadded base64url/],
    ];
    for (const [text, problem] of cases) {
      const error = throwsNexus(() => decodeCiphertext(text), "decrypt_failed");
      assert.match(error.message, problem, text);
      assert.ok(!error.message.includes(bodyText) && !error.message.includes(nonceText), error.message);
    }
  });

  it("accepts only the canonical encoding of each byte string", () => {
    // 22 characters carry 16 bytes plus 4 spare bits; a final "B" sets a spare bit and must not alias the all-"A" text.
    assert.deepEqual(decodeCiphertext(`nx1.k.AAAAAAAAAAAAAAAA.${"A".repeat(22)}`).body, new Uint8Array(16));
    throwsNexus(() => decodeCiphertext(`nx1.k.AAAAAAAAAAAAAAAA.${"A".repeat(21)}B`), "decrypt_failed");
  });

  it("round-trips through encodeCiphertext()", () => {
    const parts = { keyId: "k_1-x", nonce: new Uint8Array(randomBytes(12)), body: new Uint8Array(randomBytes(40)) };
    assert.deepEqual(decodeCiphertext(encodeCiphertext(parts)), parts);
  });
});

describe("createKeyRing()", () => {
  it("rejects a ring missing the active key", () => {
    assert.throws(() => createKeyRing(keys, "newest"), { name: "RangeError", message: /Active key id "newest" is not in the key ring \(loaded: "old", "new"\)/ });
    assert.throws(() => createKeyRing(new Map(), "primary"), { name: "RangeError", message: /loaded: none/ });
  });

  it("rejects a key that is not exactly 32 bytes", () => {
    for (const size of [0, 16, 31, 33, 64]) {
      assert.throws(() => createKeyRing(new Map([["k", new Uint8Array(size)]]), "k"), {
        name: "RangeError",
        message: `Key "k" must be exactly 32 bytes; got ${size}`,
      });
    }
    assert.throws(() => createKeyRing(new Map([["k", "x".repeat(32) as unknown as Uint8Array]]), "k"), TypeError);
  });

  it("rejects a bad key id", () => {
    for (const kid of ["", "bad kid", "a.b", "k".repeat(33), "ключ"]) {
      assert.throws(() => createKeyRing(new Map([[kid, oldKey]]), kid), { name: "RangeError", message: /must be 1 to 32 letters, digits, - or _/ });
    }
  });

  it("exposes key ids but no key material", () => {
    const ring = createKeyRing(keys, "new");
    assert.equal(ring.activeKeyId, "new");
    assert.deepEqual(ring.keyIds, ["old", "new"]);
    assert.equal(ring.has("old"), true);
    assert.equal(ring.has("gone"), false);
    assert.ok(Object.values(ring).every((v) => !(v instanceof Uint8Array)));
    const shown = JSON.stringify(ring) + inspect(ring, { depth: 5, showHidden: true });
    for (const key of [oldKey, newKey]) {
      assert.ok(!shown.includes(Buffer.from(key).toString("base64")) && !shown.includes(Buffer.from(key).toString("hex")));
    }
  });
});

describe("keyCheckValue()", () => {
  it("is the same for the same key bytes under the same id, and differs otherwise", () => {
    const again = createVault(createKeyRing(new Map([["new", new Uint8Array(newKey)]]), "new"));
    assert.equal(vault.keyCheckValue("new"), again.keyCheckValue("new"));
    assert.notEqual(vault.keyCheckValue("new"), vault.keyCheckValue("old"));
    const other = createVault(createKeyRing(new Map([["new", new Uint8Array(randomBytes(32))]]), "new"));
    assert.notEqual(other.keyCheckValue("new"), vault.keyCheckValue("new"));
    const renamed = createVault(createKeyRing(new Map([["renamed", newKey]]), "renamed"));
    assert.notEqual(renamed.keyCheckValue("renamed"), vault.keyCheckValue("new"));
    assert.deepEqual(vault.keyIds, ["old", "new"]);
  });

  it("is an HMAC under a subkey of its own purpose, never the key or the data key", () => {
    const subkey = hkdfSync("sha256", newKey, "nexus-vault", "key-check/v1/new", 32);
    const expected = createHmac("sha256", Buffer.from(subkey)).update("nexus vault key check value").digest("base64url");
    assert.equal(vault.keyCheckValue("new"), expected);
    const dataKey = Buffer.from(hkdfSync("sha256", newKey, "nexus-vault", "aes-256-gcm/nx1/new", 32));
    for (const secret of [Buffer.from(newKey), dataKey]) {
      for (const form of [secret.toString("base64url"), secret.toString("base64"), secret.toString("hex")]) {
        assert.ok(!vault.keyCheckValue("new").includes(form.slice(0, 12)));
      }
    }
  });

  it("throws key_unknown for a key id that is not loaded", () => {
    throwsNexus(() => vault.keyCheckValue("ghost"), "key_unknown");
  });
});

describe("vault errors", () => {
  it("never contain the plaintext or the ciphertext", () => {
    const sealed = vault.seal(canary, ctx);
    const [, , nonceText, bodyText] = sealed.split(".") as [string, string, string, string];
    const stranger = createVault(createKeyRing(new Map([["x", new Uint8Array(randomBytes(32))]]), "x"));
    const errors = [
      throwsNexus(() => vault.open(sealed, { ...ctx, rowId: "conn_2" }), "decrypt_failed"),
      throwsNexus(() => vault.open(sealed, { ...ctx, field: "access_token" }), "decrypt_failed"),
      throwsNexus(() => vault.open(tamper(sealed, (p) => void (p.body[0] ^= 1)), ctx), "decrypt_failed"),
      throwsNexus(() => vault.open(tamper(sealed, (p) => void (p.body = p.body.subarray(0, -4))), ctx), "decrypt_failed"),
      throwsNexus(() => vault.open(sealed.replace("nx1.new.", "nx1.old."), ctx), "decrypt_failed"),
      throwsNexus(() => vault.open(`nx2${sealed.slice(3)}`, ctx), "decrypt_failed"),
      throwsNexus(() => vault.open(`${sealed}.x`, ctx), "decrypt_failed"),
      throwsNexus(() => vault.rewrap(sealed, { ...ctx, table: "t" }), "decrypt_failed"),
      throwsNexus(() => stranger.open(sealed, ctx), "key_unknown"),
      throwsNexus(() => stranger.rewrap(sealed, ctx), "key_unknown"),
    ];
    for (const error of errors) {
      for (const shown of [error.message, JSON.stringify(error), inspect(error, { depth: 5 })]) {
        for (const secret of [canary, nonceText, bodyText, sealed]) {
          assert.ok(!shown.includes(secret), `error shows ${secret === canary ? "the plaintext" : "ciphertext"}: ${shown}`);
        }
      }
      // decrypt_failed names where it happened so an operator can find the row.
      assert.match(error.message, /conn_1|conn_2/);
    }
  });
});
