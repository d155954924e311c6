import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type WatchTokenChangesResponse, WatchTokenChangesResponseSchema } from "../../gen/nexus/broker/v1/token_cache_service_pb.ts";
import { createTokenAnswerCache, tokenCacheKey } from "../../src/gateway/token-answer-cache.ts";
import { startTokenChangeWatch } from "../../src/gateway/token-change-watch.ts";
import { CredentialSchema } from "../../gen/nexus/common/v1/credential_pb.ts";
import { createLogger } from "../../src/shared/logger.ts";

/** One stream the watch opened, fed by the test. */
interface Stream {
  readonly signal: AbortSignal;
  send(change: MessageInitShape<typeof WatchTokenChangesResponseSchema>["change"]): Promise<void>;
  end(): Promise<void>;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup() {
  let clock = 0;
  const streams: Stream[] = [];
  const checks: (() => void)[] = [];
  const cache = createTokenAnswerCache({ now: () => clock, ttlMs: 60_000, maxEntries: 100 });
  const watch = startTokenChangeWatch({
    open(signal) {
      const queue: (WatchTokenChangesResponse | "end")[] = [];
      let wake = () => {};
      const push = async (item: WatchTokenChangesResponse | "end") => {
        queue.push(item);
        wake();
        await turn();
      };
      streams.push({ signal, send: (change) => push(create(WatchTokenChangesResponseSchema, { change })), end: () => push("end") });
      return (async function* () {
        for (;;) {
          while (queue.length > 0) {
            const item = queue.shift()!;
            if (item === "end") return;
            yield item;
          }
          if (signal.aborted) throw new Error("aborted");
          await new Promise<void>((resolve) => {
            wake = resolve;
            signal.addEventListener("abort", () => resolve(), { once: true });
          });
        }
      })();
    },
    cache,
    logger: createLogger({ write: () => {} }),
    monotonicNow: () => clock,
    patienceMs: 3000,
    sleep: async () => turn(),
    every: (fn) => {
      checks.push(fn);
      return () => {};
    },
  });
  const keep = (connectionId: string, agentId: string) =>
    cache.set(cache.ticket(), tokenCacheKey(connectionId, "key:x"), {
      credential: create(CredentialSchema, {}), audit: { connectionId, agentId, caller: "", providerId: "p", providerName: "n" },
    }, 60_000);
  const kept = (connectionId: string) => cache.get(tokenCacheKey(connectionId, "key:x")) !== undefined;
  const inSync = (value: boolean) => ({ case: "state" as const, value: { inSync: value, brokerId: "broker-1" } });
  return { cache, watch, streams, keep, kept, inSync, tick: (ms: number) => (clock += ms), check: () => checks.forEach((f) => f()) };
}

describe("startTokenChangeWatch()", () => {
  it("trusts the cache only once the stream says it is in sync, and names that Broker", async () => {
    const { cache, watch, streams, inSync } = setup();
    await turn();
    assert.equal(cache.trusted, false);
    await streams[0]!.send(inSync(false));
    assert.equal(cache.trusted, false);
    await streams[0]!.send(inSync(true));
    assert.equal(cache.trusted, true);
    assert.equal(watch.brokerId, "broker-1");
    await streams[0]!.send(inSync(false));
    assert.equal(cache.trusted, false, "the Broker stopped hearing every change");
    assert.equal(watch.brokerId, undefined);
    await watch.stop();
  });

  it("drops what each change names: a connection, an agent, everything", async () => {
    const { watch, streams, keep, kept, inSync } = setup();
    await turn();
    await streams[0]!.send(inSync(true));
    for (const [c, a] of [["c1", "a"], ["c2", "a"], ["c3", "b"], ["c4", "b"]] as const) keep(c, a);
    await streams[0]!.send({ case: "connectionId", value: "c1" });
    assert.deepEqual(["c1", "c2", "c3", "c4"].map(kept), [false, true, true, true]);
    await streams[0]!.send({ case: "agentId", value: "a" });
    assert.deepEqual(["c2", "c3", "c4"].map(kept), [false, true, true]);
    await streams[0]!.send({ case: "everything", value: true });
    assert.deepEqual(["c3", "c4"].map(kept), [false, false]);
    await watch.stop();
  });

  it("empties and distrusts the cache when the stream ends, then reopens it and trusts again once in sync", async () => {
    const { cache, watch, streams, keep, kept, inSync } = setup();
    await turn();
    await streams[0]!.send(inSync(true));
    keep("c1", "a");
    await streams[0]!.end();
    assert.equal(cache.trusted, false);
    assert.equal(kept("c1"), false);
    await turn();
    assert.equal(streams.length, 2, "reopened");
    await streams[1]!.send(inSync(true));
    assert.equal(cache.trusted, true);
    await watch.stop();
  });

  it("treats a silent stream as a dead one: distrusts the cache and reopens the stream", async () => {
    const { cache, watch, streams, keep, kept, inSync, tick, check } = setup();
    await turn();
    await streams[0]!.send(inSync(true));
    keep("c1", "a");
    tick(2999);
    check();
    assert.equal(kept("c1"), true, "within patience");
    tick(2);
    check();
    assert.equal(cache.trusted, false);
    assert.equal(streams[0]!.signal.aborted, true);
    await turn();
    await turn();
    assert.equal(streams.length, 2);
    await watch.stop();
    assert.equal(cache.trusted, false);
  });
});
