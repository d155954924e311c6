import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTokenCache, type ExchangedCredential, type ExchangeOptions, type NexusClient } from "../../src/client/mod.ts";

/** A client whose exchange counts its calls and answers a credential expiring `ttl` seconds from the fake clock. */
function fakeClient(clock: { now: number }, ttl = 600) {
  const calls: { token: string; options: ExchangeOptions | undefined }[] = [];
  const unused = () => Promise.reject(new Error("not used"));
  const client: Pick<NexusClient, "getToken" | "resolveToken" | "refresh" | "exchange"> = {
    getToken: unused, resolveToken: unused, refresh: unused,
    async exchange(token, options) {
      calls.push({ token, options });
      await new Promise((r) => setTimeout(r, 5));
      const credential = { strategy: { type: "oauth2", config: {} }, credentials: { access_token: `at-${calls.length}` }, expiresAt: Math.floor(clock.now / 1000) + ttl };
      return { accessToken: `at-${calls.length}`, tokenType: "Bearer", expiresIn: ttl, scopes: [], credential, allowedHosts: [] } satisfies ExchangedCredential;
    },
  };
  return { client, calls };
}

describe("createTokenCache() with session keys", () => {
  it("concurrent gets of one session share one exchange; the result is served until the margin", async () => {
    const clock = { now: 1_000_000_000_000 };
    const { client, calls } = fakeClient(clock);
    const cache = createTokenCache({ client, now: () => clock.now, evictBeforeExpirySeconds: 60 });
    const key = { sessionToken: "tok-a", scopes: ["b", "a"] };
    const results = await Promise.all(Array.from({ length: 10 }, () => cache.get(key)));
    assert.equal(new Set(results.map((r) => r.credentials.access_token)).size, 1);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.options, { scopes: ["b", "a"] });
    // The same scopes in another order are the same key.
    await cache.get({ sessionToken: "tok-a", scopes: ["a", "b"] });
    assert.equal(calls.length, 1);
    clock.now += 539_000;
    await cache.get(key);
    assert.equal(calls.length, 1, "still fresh 61 s before expiry");
    clock.now += 2_000;
    await cache.get(key);
    assert.equal(calls.length, 2, "inside the margin: exchanged again");
  });

  it("other scopes, another resource or another token are other keys; forceRefresh exchanges again", async () => {
    const clock = { now: 1_000_000_000_000 };
    const { client, calls } = fakeClient(clock);
    const cache = createTokenCache({ client, now: () => clock.now });
    await cache.get({ sessionToken: "tok-a" });
    await cache.get({ sessionToken: "tok-a", scopes: ["a"] });
    await cache.get({ sessionToken: "tok-a", resource: "crm" });
    await cache.get({ sessionToken: "tok-b" });
    assert.equal(calls.length, 4);
    const again = await cache.forceRefresh({ sessionToken: "tok-a" });
    assert.equal(calls.length, 5);
    assert.equal((await cache.get({ sessionToken: "tok-a" })).credentials.access_token, again.credentials.access_token);
  });

  it("a client without exchange() cannot serve session keys", async () => {
    const unused = () => Promise.reject(new Error("not used"));
    const cache = createTokenCache({ client: { getToken: unused, resolveToken: unused, refresh: unused } });
    await assert.rejects(cache.get({ sessionToken: "tok" }), TypeError);
  });
});
