import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Connection } from "../../src/broker/domain/connection.ts";
import { type CachedAnswer, createCredentialCache } from "../../src/broker/services/credential-cache.ts";

function answer(id: string, status: Connection["status"] = "active", token = `tok-${id}`): CachedAnswer {
  return {
    connectionId: id,
    status,
    providerId: "p",
    agentId: null,
    providerName: "p",
    payload: { strategy: { type: "oauth2", config: {} }, credentials: { access_token: token }, expiresAt: undefined },
    readUntilMs: Number.POSITIVE_INFINITY,
  };
}

function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  let clock = 1_000_000;
  const cache = createCredentialCache({ now: () => clock, ttlMs: options.ttlMs ?? 10_000, maxEntries: options.maxEntries ?? 100 });
  cache.trust(true);
  return { cache, advance: (ms: number) => void (clock += ms), now: () => clock };
}

describe("createCredentialCache()", () => {
  it("answers what was stored until the TTL ends, then forgets it", () => {
    const { cache, advance, now } = setup({ ttlMs: 5000 });
    cache.set(cache.ticket(), answer("a"), Number.POSITIVE_INFINITY);
    assert.equal(cache.get("a")?.payload.credentials.access_token, "tok-a");
    advance(4999);
    assert.ok(cache.get("a"));
    advance(1);
    assert.equal(cache.get("a"), undefined);
    assert.equal(cache.size, 0, "an expired entry is removed when found");
    assert.ok(now() > 0);
  });

  it("never keeps an entry past usableUntilMs (when reading would refresh the token)", () => {
    const { cache, advance, now } = setup({ ttlMs: 60_000 });
    cache.set(cache.ticket(), answer("a"), now() + 2000);
    advance(1999);
    assert.ok(cache.get("a"));
    advance(1);
    assert.equal(cache.get("a"), undefined);
    cache.set(cache.ticket(), answer("b"), now());
    assert.equal(cache.get("b"), undefined, "an answer already in the refresh window is not kept at all");
  });

  it("refuses an answer read before an invalidation, of any connection", () => {
    const { cache } = setup();
    const ticket = cache.ticket();
    cache.invalidate("other");
    cache.set(ticket, answer("a"), Number.POSITIVE_INFINITY);
    assert.equal(cache.get("a"), undefined);
    cache.set(cache.ticket(), answer("a"), Number.POSITIVE_INFINITY);
    assert.ok(cache.get("a"), "a read that started after it is kept");
  });

  it("invalidate(id) drops one entry, invalidate() drops all", () => {
    const { cache } = setup();
    for (const id of ["a", "b", "c"]) cache.set(cache.ticket(), answer(id), Number.POSITIVE_INFINITY);
    cache.invalidate("b");
    assert.deepEqual(["a", "b", "c"].map((id) => cache.get(id) !== undefined), [true, false, true]);
    cache.invalidate();
    assert.equal(cache.size, 0);
  });

  it("keeps nothing while untrusted, and distrust empties it", () => {
    const { cache } = setup();
    cache.set(cache.ticket(), answer("a"), Number.POSITIVE_INFINITY);
    cache.trust(false);
    assert.equal(cache.trusted, false);
    assert.equal(cache.get("a"), undefined);
    cache.set(cache.ticket(), answer("a"), Number.POSITIVE_INFINITY);
    assert.equal(cache.size, 0);
    cache.trust(true);
    cache.set(cache.ticket(), answer("a"), Number.POSITIVE_INFINITY);
    assert.equal(cache.size, 1);
  });

  it("a ticket taken while untrusted stays invalid after trust returns", () => {
    const { cache } = setup();
    cache.trust(false);
    const ticket = cache.ticket();
    cache.trust(true);
    cache.set(ticket, answer("a"), Number.POSITIVE_INFINITY);
    assert.equal(cache.size, 0);
  });

  it("holds at most maxEntries, evicting the oldest stored", () => {
    const { cache } = setup({ maxEntries: 3 });
    for (const id of ["a", "b", "c", "d"]) cache.set(cache.ticket(), answer(id), Number.POSITIVE_INFINITY);
    assert.equal(cache.size, 3);
    assert.equal(cache.get("a"), undefined);
    cache.set(cache.ticket(), answer("b", "active", "newer"), Number.POSITIVE_INFINITY);
    cache.set(cache.ticket(), answer("e"), Number.POSITIVE_INFINITY);
    assert.equal(cache.get("c"), undefined, "re-storing b made c the oldest");
    assert.equal(cache.get("b")?.payload.credentials.access_token, "newer");
  });

  it("keeps only active connections, and nothing when the TTL is 0", () => {
    const { cache } = setup();
    cache.set(cache.ticket(), answer("r", "revoked"), Number.POSITIVE_INFINITY);
    assert.equal(cache.size, 0);
    const off = createCredentialCache({ now: () => 0, ttlMs: 0, maxEntries: 10 });
    off.trust(true);
    off.set(off.ticket(), answer("a"), Number.POSITIVE_INFINITY);
    assert.equal(off.size, 0);
  });
});
