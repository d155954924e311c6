import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { CredentialSchema } from "../../gen/nexus/common/v1/credential_pb.ts";
import { type CachedToken, createTokenAnswerCache, tokenCacheKey } from "../../src/gateway/token-answer-cache.ts";

function answer(connectionId: string, agentId: string, token = `tok-${connectionId}`): CachedToken {
  return {
    credential: create(CredentialSchema, { strategy: { type: "oauth2" }, credentials: { access_token: token } }),
    audit: { connectionId, agentId, caller: agentId === "" ? "agent:1a2b3c4d via key:9" : `agent:${agentId}`, providerId: "p", providerName: "keys" },
  };
}

function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  let now = 1_000;
  // random() = 1 - 1e-9: every entry gets (all but) its whole ttl.
  const cache = createTokenAnswerCache({ now: () => now, ttlMs: options.ttlMs ?? 10_000, maxEntries: options.maxEntries ?? 100, random: () => 1 - 1e-9 });
  cache.trust(true);
  return { cache, tick: (ms: number) => (now += ms) };
}

const token = (v: CachedToken | undefined) => v?.credential.credentials.access_token;

describe("createTokenAnswerCache()", () => {
  it("answers only the caller and connection an answer was stored for", () => {
    const { cache } = setup();
    cache.set(cache.ticket(), tokenCacheKey("c1", "key:A"), answer("c1", "a"), 60_000);
    assert.equal(token(cache.get(tokenCacheKey("c1", "key:A"))), "tok-c1");
    assert.equal(cache.get(tokenCacheKey("c1", "key:B")), undefined, "another caller's credential never gets it");
    assert.equal(cache.get(tokenCacheKey("c2", "key:A")), undefined);
  });

  it("keeps nothing and answers nothing while untrusted; distrust empties it", () => {
    const { cache } = setup();
    const key = tokenCacheKey("c1", "key:A");
    cache.set(cache.ticket(), key, answer("c1", "a"), 60_000);
    cache.trust(false);
    assert.equal(cache.get(key), undefined);
    cache.set(cache.ticket(), key, answer("c1", "a"), 60_000);
    cache.trust(true);
    assert.equal(cache.get(key), undefined, "nothing from before, nothing stored while untrusted");
    assert.equal(cache.size, 0);
  });

  it("does not store an answer that was on its way while anything was invalidated or trust changed", () => {
    const { cache } = setup();
    const key = tokenCacheKey("c1", "key:A");
    for (const change of [() => cache.dropConnection("c9"), () => cache.dropAgent("z"), () => cache.clear(), () => cache.trust(true)]) {
      const ticket = cache.ticket();
      change();
      cache.set(ticket, key, answer("c1", "a"), 60_000);
      assert.equal(cache.get(key), undefined);
    }
  });

  it("drops every caller's answers about a connection, and every answer given to an agent", () => {
    const { cache } = setup();
    cache.set(cache.ticket(), tokenCacheKey("c1", "key:A"), answer("c1", "a"), 60_000);
    cache.set(cache.ticket(), tokenCacheKey("c1", "unscoped:u"), answer("c1", ""), 60_000);
    cache.set(cache.ticket(), tokenCacheKey("c2", "key:A"), answer("c2", "a"), 60_000);
    cache.set(cache.ticket(), tokenCacheKey("c3", "key:B"), answer("c3", "b"), 60_000);
    cache.dropConnection("c1");
    assert.equal(cache.get(tokenCacheKey("c1", "key:A")), undefined);
    assert.equal(cache.get(tokenCacheKey("c1", "unscoped:u")), undefined);
    assert.equal(token(cache.get(tokenCacheKey("c2", "key:A"))), "tok-c2");
    cache.dropAgent("a");
    assert.equal(cache.get(tokenCacheKey("c2", "key:A")), undefined);
    assert.equal(token(cache.get(tokenCacheKey("c3", "key:B"))), "tok-c3");
    assert.equal(cache.size, 1);
  });

  it("keeps an answer no longer than its own max age or the cache's ttl, whichever is shorter", () => {
    const { cache, tick } = setup({ ttlMs: 5_000 });
    cache.set(cache.ticket(), "short", answer("c1", "a"), 1_000);
    cache.set(cache.ticket(), "long", answer("c2", "a"), 60_000);
    cache.set(cache.ticket(), "none", answer("c3", "a"), 0);
    tick(999);
    assert.ok(cache.get("short") !== undefined && cache.get("long") !== undefined);
    assert.equal(cache.get("none"), undefined, "max age 0: never kept");
    tick(1);
    assert.equal(cache.get("short"), undefined);
    tick(3_999);
    assert.ok(cache.get("long") !== undefined);
    tick(1);
    assert.equal(cache.get("long"), undefined);
  });

  it("spreads expiries over the last fifth of the ttl", () => {
    let now = 0;
    let r = 0;
    const cache = createTokenAnswerCache({ now: () => now, ttlMs: 10_000, maxEntries: 100, random: () => r });
    cache.trust(true);
    r = 0;
    cache.set(cache.ticket(), "soon", answer("c1", "a"), 60_000);
    r = 0.5;
    cache.set(cache.ticket(), "later", answer("c2", "a"), 60_000);
    now = 8_000;
    assert.deepEqual([cache.get("soon") === undefined, cache.get("later") === undefined], [true, false]);
    now = 9_000;
    assert.equal(cache.get("later"), undefined);
  });

  it("holds at most maxEntries, evicting the oldest, and keeps nothing when the ttl is 0", () => {
    const { cache } = setup({ maxEntries: 2 });
    for (const c of ["c1", "c2", "c3"]) cache.set(cache.ticket(), c, answer(c, "a"), 60_000);
    assert.deepEqual(["c1", "c2", "c3"].map((c) => token(cache.get(c))), [undefined, "tok-c2", "tok-c3"]);
    cache.dropAgent("a");
    assert.equal(cache.size, 0, "the evicted entry left no index behind to trip over");
    const off = setup({ ttlMs: 0 }).cache;
    off.set(off.ticket(), "k", answer("c1", "a"), 60_000);
    assert.equal(off.get("k"), undefined);
  });
});
