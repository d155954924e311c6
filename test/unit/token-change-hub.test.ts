import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAgentCache } from "../../src/broker/services/agent-cache.ts";
import { createCredentialCache } from "../../src/broker/services/credential-cache.ts";
import { createTokenChangeHub, type TokenChange } from "../../src/broker/services/token-change-hub.ts";

function setup() {
  const beats: (() => void)[] = [];
  const hub = createTokenChangeHub({ setInterval: (fn) => (beats.push(fn), () => void beats.splice(beats.indexOf(fn), 1)) });
  const tokens = createCredentialCache({ now: () => 0, ttlMs: 10_000, maxEntries: 10 });
  const agents = createAgentCache({ now: () => 0, ttlMs: 10_000, maxEntries: 10 });
  const caches = hub.watching({ tokens, agents });
  const heard: TokenChange[] = [];
  let closed = false;
  const unsubscribe = hub.subscribe({ change: (c) => void heard.push(c), closed: () => void (closed = true) });
  return { hub, tokens, agents, caches, heard, unsubscribe, beats, isClosed: () => closed };
}

describe("createTokenChangeHub()", () => {
  it("tells a subscriber the state at once, then every invalidation and trust change the watched caches see", () => {
    const { caches, tokens, heard } = setup();
    caches.tokens.trust(true);
    caches.agents.trust(true);
    caches.tokens.invalidate("c1");
    caches.agents.invalidate("a1");
    caches.tokens.invalidate();
    caches.tokens.trust(false);
    assert.deepEqual(heard, [
      { kind: "state", inSync: false },
      { kind: "state", inSync: true },
      { kind: "connection", connectionId: "c1" },
      { kind: "agent", agentId: "a1" },
      { kind: "everything" },
      { kind: "state", inSync: false },
    ]);
    assert.equal(tokens.trusted, false, "the watched cache itself follows");
    assert.equal(caches.tokens.trusted, false);
  });

  it("beats while anyone listens, and stops when the last one goes", () => {
    const { unsubscribe, beats, heard } = setup();
    assert.equal(beats.length, 1);
    beats[0]!();
    assert.deepEqual(heard.at(-1), { kind: "state", inSync: false });
    unsubscribe();
    assert.equal(beats.length, 0);
  });

  it("closes every subscription on close()", () => {
    const { hub, isClosed, caches, heard } = setup();
    hub.close();
    assert.equal(isClosed(), true);
    caches.tokens.invalidate("c1");
    assert.equal(heard.length, 1, "nothing after close");
    assert.equal(hub.subscribers, 0);
  });
});
