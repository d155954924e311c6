/**
 * The cache's trust rules, driven through a scripted change feed: a fake, for
 * fault injection (a subscription that fails, heartbeats that stop coming
 * back). The real feed over PostgreSQL is tested in e2e/token-cache.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CredentialChangeFeed, CredentialChangeHandlers } from "../../src/broker/domain/ports.ts";
import { type CachedAnswer, createCredentialCache } from "../../src/broker/services/credential-cache.ts";
import { startCredentialCacheSync } from "../../src/broker/services/credential-cache-sync.ts";
import { createLogger } from "../../src/shared/logger.ts";
import { until } from "../support/until.ts";

function scriptedFeed() {
  const state = { failSubscribe: false, echo: true, subscriptions: 0, unsubscribed: 0, handlers: undefined as CredentialChangeHandlers | undefined };
  const feed: CredentialChangeFeed = {
    async subscribe(handlers) {
      if (state.failSubscribe) throw new Error("connect ECONNREFUSED");
      state.subscriptions++;
      state.handlers = handlers;
      queueMicrotask(() => handlers.listening());
      return async () => void state.unsubscribed++;
    },
    async ping(token) {
      if (state.echo) queueMicrotask(() => state.handlers?.pong(token));
    },
  };
  return { feed, state };
}

const entry = (id: string): CachedAnswer => ({
  connectionId: id,
  status: "active",
  providerId: "p",
  agentId: null,
  providerName: "p",
  payload: { strategy: { type: "oauth2", config: {} }, credentials: { access_token: "t" }, expiresAt: undefined },
  readUntilMs: Number.POSITIVE_INFINITY,
});

function setup() {
  const logs: string[] = [];
  const cache = createCredentialCache({ now: () => Date.now(), ttlMs: 60_000, maxEntries: 100 });
  const { feed, state } = scriptedFeed();
  const logger = createLogger({ level: "debug", write: (l) => void logs.push(l) });
  return { cache, feed, state, logs, logger };
}

describe("startCredentialCacheSync()", () => {
  it("trusts the cache once listening, and drops entries named by the feed", async () => {
    const { cache, feed, state, logger } = setup();
    const sync = startCredentialCacheSync({ feed, cache, logger, instanceId: "me", heartbeatMs: 60_000 }); // heartbeats are not under test here: a late one on a loaded host would re-subscribe
    await until("trusted", async () => (cache.trusted ? true : undefined), 1000, 5);
    cache.set(cache.ticket(), entry("a"), Number.POSITIVE_INFINITY);
    cache.set(cache.ticket(), entry("b"), Number.POSITIVE_INFINITY);
    state.handlers!.changed("a");
    assert.deepEqual([cache.get("a") === undefined, cache.get("b") === undefined], [true, false]);
    state.handlers!.changed(undefined);
    assert.equal(cache.size, 0);
    await sync.stop();
    assert.equal(cache.trusted, false);
    assert.equal(state.unsubscribed, 1);
  });

  it("empties the cache when the subscription is re-established (changes in between were missed)", async () => {
    const { cache, feed, state, logger } = setup();
    const sync = startCredentialCacheSync({ feed, cache, logger, instanceId: "me", heartbeatMs: 20 });
    await until("trusted", async () => (cache.trusted ? true : undefined), 1000, 5);
    cache.set(cache.ticket(), entry("a"), Number.POSITIVE_INFINITY);
    state.handlers!.listening();
    assert.equal(cache.size, 0);
    await sync.stop();
  });

  it("stops trusting when its heartbeats stop coming back, and trusts again when they return", async () => {
    const { cache, feed, state, logs, logger } = setup();
    const sync = startCredentialCacheSync({ feed, cache, logger, instanceId: "me", heartbeatMs: 20 });
    await until("trusted", async () => (cache.trusted ? true : undefined), 1000, 5);
    cache.set(cache.ticket(), entry("a"), Number.POSITIVE_INFINITY);
    state.echo = false;
    await until("distrust", async () => (!cache.trusted ? true : undefined), 2000, 5);
    assert.equal(cache.size, 0, "distrust empties the cache");
    assert.ok(logs.some((l) => l.includes("token cache off")));
    // Still silent: the subscription is presumed lost and made anew.
    await until("a new subscription", async () => (state.subscriptions > 1 ? true : undefined), 2000, 5);
    state.echo = true;
    await until("trust again", async () => (cache.trusted ? true : undefined), 2000, 5);
    await sync.stop();
  });

  it("ignores other Brokers' heartbeats", async () => {
    const { cache, feed, state, logger } = setup();
    state.echo = false;
    const sync = startCredentialCacheSync({ feed, cache, logger, instanceId: "me", heartbeatMs: 20 });
    await until("trusted on listening", async () => (cache.trusted ? true : undefined), 1000, 5);
    const noise = setInterval(() => state.handlers?.pong("someone-else"), 5);
    await until("distrust despite others' pongs", async () => (!cache.trusted ? true : undefined), 2000, 5);
    clearInterval(noise);
    await sync.stop();
  });

  it("keeps answering from the database while it cannot subscribe, retrying every heartbeat, and warns once", async () => {
    const { cache, feed, state, logs, logger } = setup();
    state.failSubscribe = true;
    const sync = startCredentialCacheSync({ feed, cache, logger, instanceId: "me", heartbeatMs: 20 });
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(cache.trusted, false);
    assert.equal(logs.filter((l) => l.includes("cannot subscribe")).length, 1);
    state.failSubscribe = false;
    await until("trusted after the database returns", async () => (cache.trusted ? true : undefined), 2000, 5);
    await sync.stop();
  });
});
