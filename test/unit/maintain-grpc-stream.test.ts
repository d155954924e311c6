/**
 * maintainGrpcStream's loop under manual timers, against FeedService served
 * in memory by connect's router transport (test/support/scripted-feed.ts) and
 * a scripted Nexus client. The real Gateway, a real HTTP/2 server and real
 * token rotation are in test/e2e/client-grpc-stream.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Timers } from "../../src/client/abortable-sleep.ts";
import { backoffDelay } from "../../src/client/backoff-delay.ts";
import type { Credential } from "../../src/client/credential.ts";
import { type GrpcStreamHandlers, maintainGrpcStream, type MaintainGrpcStreamOptions } from "../../src/client/maintain-grpc-stream.ts";
import { NexusClientError } from "../../src/client/nexus-client-error.ts";
import { type FeedEvent, FeedService, type FeedServiceDesc } from "../support/feed-service.ts";
import { createManualTimers } from "../support/manual-timers.ts";
import { scriptedFeed } from "../support/scripted-feed.ts";

const start = 1_700_000_000_000;
const oauth = { type: "oauth2", config: {} };

function setup(options: { ttl?: number | undefined; strategy?: Credential["strategy"] } = {}) {
  const clock = createManualTimers(start);
  const timers: Timers = { setTimeout: (fn, ms) => clock.setTimer(fn, ms), clearTimeout: (cancel) => (cancel as () => void)() };
  const feed = scriptedFeed();
  let issued = 0;
  const nexus = {
    calls: [] as string[],
    /** Errors the next credential fetches throw, in order. */
    failures: [] as Error[],
    ttl: "ttl" in options ? options.ttl : 120,
    issue(kind: string): Credential {
      const expiresAt = nexus.ttl === undefined ? {} : { expiresAt: Math.floor(clock.now() / 1000) + nexus.ttl };
      return { strategy: options.strategy ?? oauth, credentials: { access_token: `${kind}-${++issued}`, api_key: `key-${issued}` }, ...expiresAt };
    },
    async getToken(): Promise<Credential> {
      nexus.calls.push("getToken");
      const failure = nexus.failures.shift();
      if (failure !== undefined) throw failure;
      return nexus.issue("get");
    },
    async refresh(): Promise<Credential> {
      nexus.calls.push("refresh");
      return nexus.issue("refreshed");
    },
  };
  const events: string[] = [];
  const handlers: GrpcStreamHandlers<FeedEvent> = {
    onOpen: (info) => void events.push(`open ${info.id}`),
    onMessage: (message, info) => void events.push(`message ${info.id} ${message.topic}`),
    onClose: (info) => void events.push(`close ${info.id} ${info.cause}${info.error === undefined ? "" : ` ${Code[info.error.code]}`}`),
    onError: (error) => void events.push(`error ${error instanceof ConnectError ? Code[error.code] : (error as NexusClientError).reason}`),
  };
  const controller = new AbortController();
  const run = (extra: Partial<MaintainGrpcStreamOptions<FeedServiceDesc, FeedEvent>> = {}) => {
    const done = maintainGrpcStream({
      client: nexus, connectionId: "c1", transport: feed.transport, service: FeedService, signal: controller.signal,
      open: (client, call) => client.subscribe({ topic: "orders" }, call),
      handlers, now: clock.now, timers, random: () => 0.5, logger: {}, backoff: { initialMs: 100, maxMs: 1000, stableMs: 5000 },
      ...extra,
    });
    const state = { settled: false, error: undefined as unknown };
    done.then(() => (state.settled = true), (error: unknown) => Object.assign(state, { settled: true, error }));
    return { done, state };
  };
  /** Lets every promise chain run, without moving the clock. */
  const settle = () => clock.advance(0);
  return { clock, feed, nexus, events, controller, run, settle };
}

describe("maintainGrpcStream", () => {
  it("the hand-written FeedService shapes match the .proto", () => {
    const shape = (m: DescMessage) => m.fields.map((f) => `${f.localName}:${f.fieldKind === "scalar" ? ScalarType[f.scalar] : f.fieldKind}`);
    assert.deepEqual([FeedService.method.subscribe.methodKind, FeedService.method.converse.methodKind], ["server_streaming", "bidi_streaming"]);
    assert.deepEqual(shape(FeedService.method.subscribe.input), ["topic:STRING"]);
    assert.deepEqual(shape(FeedService.method.subscribe.output), ["stream:UINT32", "seq:UINT32", "topic:STRING"]);
    assert.deepEqual(shape(FeedService.method.converse.input), ["text:STRING"]);
    assert.deepEqual(shape(FeedService.method.converse.output), ["stream:UINT32", "seq:UINT32", "text:STRING"]);
  });

  it("opens the call with the credential in its metadata, per strategy, and delivers messages in order", async () => {
    for (const [strategy, expected] of [[oauth, "Bearer get-1"], [{ type: "header", config: { header_name: "X-API-Key" } }, "key-1"]] as const) {
      const t = setup({ strategy });
      t.run();
      await t.settle();
      assert.equal(t.feed.calls.length, 1);
      assert.equal(t.feed.calls[0]!.credential, expected);
      assert.deepEqual(t.feed.calls[0]!.requests, ["orders"]);
      t.feed.calls[0]!.send("a");
      t.feed.calls[0]!.send("b");
      await t.settle();
      assert.deepEqual(t.events, ["open 1", "message 1 a", "message 1 b"]);
      t.controller.abort();
    }
  });

  it("rotates make-before-break: a new stream with a fresh token, the old one cancelled once the new one answers", async () => {
    const t = setup();
    t.run({ refreshBeforeExpirySeconds: 30 });
    await t.settle();
    const [old] = t.feed.calls;
    old!.send("a");
    await t.clock.advance(90_000 - 1);
    assert.equal(t.feed.calls.length, 1, "nothing before 30 s ahead of the 120 s expiry");
    await t.clock.advance(1);
    assert.equal(t.feed.calls.length, 2);
    const fresh = t.feed.calls[1]!;
    assert.equal(fresh.credential, "Bearer get-2");
    // Until the new stream answers, the old one keeps delivering.
    old!.send("b");
    await t.settle();
    assert.equal(old!.cancelled, false);
    fresh.send("c");
    await t.settle();
    assert.equal(old!.cancelled, true);
    assert.deepEqual(t.events, ["open 1", "message 1 a", "message 1 b", "open 2", "message 2 c", "close 1 rotation"]);
    // The schedule now follows the new credential (issued at 90 s, expiring at 210 s): the next rotation is at 180 s.
    await t.clock.advance(90_000 - 1);
    assert.equal(t.feed.calls.length, 2);
    await t.clock.advance(1);
    assert.equal(t.feed.calls.length, 3);
    t.controller.abort();
  });

  it("a new stream the server keeps silent takes over when the old credential expires", async () => {
    const t = setup();
    t.run({ refreshBeforeExpirySeconds: 30 });
    await t.settle();
    t.feed.calls[0]!.send("a");
    await t.clock.advance(90_000);
    const [old, fresh] = t.feed.calls;
    assert.ok(fresh !== undefined);
    await t.clock.advance(30_000 - 1);
    assert.equal(old!.cancelled, false, "the old stream runs while its credential is valid");
    await t.clock.advance(1);
    assert.equal(old!.cancelled, true, "cancelled when its credential expires");
    assert.equal(fresh.cancelled, false);
    fresh.send("late");
    await t.settle();
    assert.deepEqual(t.events, ["open 1", "message 1 a", "close 1 rotation", "open 2", "message 2 late"]);
    t.controller.abort();
  });

  it("a new stream refused as UNAUTHENTICATED leaves the old one running; the retry forces a refresh", async () => {
    const t = setup();
    t.run({ refreshBeforeExpirySeconds: 30 });
    await t.settle();
    await t.clock.advance(90_000);
    t.feed.calls[1]!.fail(Code.Unauthenticated);
    await t.settle();
    assert.equal(t.feed.calls[0]!.cancelled, false);
    // The in-memory transport sends response headers before the error status: the new stream opened, then closed.
    assert.deepEqual(t.events, ["open 2", "close 2 remote Unauthenticated", "error Unauthenticated"]);
    assert.deepEqual(t.nexus.calls, ["getToken", "getToken"]);
    await t.clock.advance(backoffDelay(0, { initialMs: 100, maxMs: 1000 }, () => 0.5));
    assert.deepEqual(t.nexus.calls, ["getToken", "getToken", "refresh"]);
    assert.equal(t.feed.calls[2]!.credential, "Bearer refreshed-3");
    t.feed.calls[2]!.send("x");
    await t.settle();
    assert.equal(t.feed.calls[0]!.cancelled, true);
    t.controller.abort();
  });

  it("UNAUTHENTICATED on the stream: refresh and reopen at once; refused again at once: back off", async () => {
    const t = setup();
    t.run();
    await t.settle();
    t.feed.calls[0]!.send("a");
    await t.settle();
    t.feed.calls[0]!.fail(Code.Unauthenticated);
    await t.settle();
    assert.deepEqual(t.nexus.calls, ["getToken", "refresh"], "a forced refresh, with no wait");
    assert.equal(t.feed.calls[1]!.credential, "Bearer refreshed-2");
    t.feed.calls[1]!.fail(Code.Unauthenticated);
    await t.settle();
    assert.equal(t.feed.calls.length, 2, "a second refusal in a row waits");
    await t.clock.advance(backoffDelay(1, { initialMs: 100, maxMs: 1000 }, () => 0.5) - 1);
    assert.equal(t.feed.calls.length, 2);
    await t.clock.advance(1);
    assert.equal(t.feed.calls[2]!.credential, "Bearer refreshed-3");
    assert.deepEqual(t.events, [
      "open 1", "message 1 a", "close 1 remote Unauthenticated", "error Unauthenticated", "open 2", "close 2 remote Unauthenticated", "error Unauthenticated",
    ]);
    t.controller.abort();
  });

  it("UNAVAILABLE and OK ends: reopen after growing waits with full jitter, from the bottom again after a stable stream", async () => {
    const t = setup();
    t.run();
    await t.settle();
    const bounds = { initialMs: 100, maxMs: 1000 };
    for (let n = 0; n < 5; n++) {
      if (n % 2 === 0) t.feed.calls[n]!.fail(Code.Unavailable);
      else t.feed.calls[n]!.end();
      await t.settle();
      const wait = backoffDelay(n, bounds, () => 0.5);
      await t.clock.advance(wait - 1);
      assert.equal(t.feed.calls.length, n + 1, `still waiting ${wait} ms after end ${n + 1}`);
      await t.clock.advance(1);
      assert.equal(t.feed.calls.length, n + 2);
    }
    assert.deepEqual([0, 1, 2, 3, 4].map((n) => backoffDelay(n, bounds, () => 0.5)), [50, 100, 200, 400, 500]);
    await t.clock.advance(5000);
    t.feed.calls[5]!.fail(Code.Unavailable);
    await t.settle();
    await t.clock.advance(49);
    assert.equal(t.feed.calls.length, 6);
    await t.clock.advance(1);
    assert.equal(t.feed.calls.length, 7, "after a stream that lasted stableMs the wait starts over");
    t.controller.abort();
  });

  it("a status no retry can fix ends the loop with grpc_stream_failed; `retryable` decides which", async () => {
    const t = setup();
    const { done } = t.run();
    await t.settle();
    t.feed.calls[0]!.fail(Code.PermissionDenied);
    await assert.rejects(done, (e) => (
      e instanceof NexusClientError && e.reason === "grpc_stream_failed" && e.code === "permission_denied" && e.cause instanceof ConnectError
    ));
    assert.equal(t.clock.pending, 0);

    const u = setup();
    const strict = u.run({ retryable: (error) => error.code === Code.Unauthenticated });
    await u.settle();
    u.feed.calls[0]!.fail(Code.Unavailable);
    await assert.rejects(strict.done, (e) => e instanceof NexusClientError && e.code === "unavailable");
  });

  it("waits out failed credential fetches, and ends on a permanent one", async () => {
    const t = setup();
    const unavailable = new NexusClientError("unavailable: down", { code: "unavailable", reason: "unavailable", retryable: true });
    t.nexus.failures.push(unavailable, unavailable);
    const { state, done } = t.run();
    await t.settle();
    await t.clock.advance(50);
    await t.clock.advance(100);
    assert.equal(t.feed.calls.length, 1);
    assert.deepEqual(t.events.slice(0, 2), ["error unavailable", "error unavailable"]);
    t.nexus.failures.push(new NexusClientError("connection_revoked: gone", { code: "failed_precondition", reason: "connection_revoked" }));
    t.feed.calls[0]!.fail(Code.Unavailable);
    await t.settle();
    // Two failed fetches and one failed stream in a row: the third wait.
    await t.clock.advance(backoffDelay(2, { initialMs: 100, maxMs: 1000 }, () => 0.5));
    await assert.rejects(done, (e) => e instanceof NexusClientError && e.reason === "connection_revoked");
    assert.equal(state.settled, true);
    assert.equal(t.clock.pending, 0);
  });

  it("an open function that throws ends the loop with grpc_stream_failed", async () => {
    const t = setup();
    const { done } = t.run({ open: () => {
      throw new TypeError("feed.subscribe is not a function");
    } });
    await assert.rejects(done, (e) => e instanceof NexusClientError && e.reason === "grpc_stream_failed" && e.code === "invalid_argument" && /not a function/.test(e.message));
    assert.equal(t.clock.pending, 0);
  });

  it("a credential metadata cannot carry ends the loop before any call", async () => {
    const t = setup({ strategy: { type: "query_param", config: { param_name: "key" } } });
    const { done } = t.run();
    await assert.rejects(done, (e) => e instanceof NexusClientError && e.reason === "unsupported_strategy");
    assert.equal(t.feed.calls.length, 0);
  });

  it("abort resolves, cancels the stream at the server, leaves no timer and calls no handler after", async () => {
    const t = setup();
    const seen: string[] = [];
    const { done, state } = t.run({ handlers: {
      onMessage: (m) => {
        seen.push(`message ${m.topic}`);
        // Stops from inside a handler, with the next messages already on their way.
        if (m.topic === "a") t.controller.abort();
      },
      onClose: (info) => void seen.push(`close ${info.id} ${info.cause}`),
    } });
    await t.settle();
    assert.equal(t.clock.pending, 1, "the rotation timer");
    for (const text of ["a", "b", "c"]) t.feed.calls[0]!.send(text);
    await done;
    assert.equal(state.error, undefined);
    assert.equal(t.feed.calls[0]!.cancelled, true, "the server saw the call cancelled");
    assert.equal(t.clock.pending, 0);
    assert.deepEqual(seen, ["message a", "close 1 stop"], "no message after the abort");

    // Aborting during a backoff wait, and during a rotation's overlap.
    const u = setup();
    const waiting = u.run();
    await u.settle();
    u.feed.calls[0]!.fail(Code.Unavailable);
    await u.settle();
    assert.equal(u.clock.pending, 1, "the backoff wait");
    u.controller.abort();
    await waiting.done;
    assert.equal(u.clock.pending, 0);

    // Stopping during a rotation's overlap, with the new stream's message queued behind a slow handler.
    const v = setup();
    const handled: string[] = [];
    let release: () => void = () => {};
    const rotating = v.run({ refreshBeforeExpirySeconds: 30, handlers: { onMessage: (m, info) => {
      handled.push(`${info.id} ${m.topic}`);
      return new Promise<void>((resolve) => (release = resolve));
    } } });
    await v.settle();
    await v.clock.advance(90_000);
    assert.equal(v.feed.open().length, 2);
    v.feed.calls[0]!.send("a");
    await v.settle();
    v.feed.calls[1]!.send("b");
    await v.settle();
    assert.deepEqual(handled, ["1 a"], "b waits for a's handler");
    v.controller.abort();
    release();
    await rotating.done;
    assert.deepEqual(handled, ["1 a"], "b, read before the abort, is not handed over after it");
    assert.deepEqual(v.feed.calls.map((c) => c.cancelled), [true, true]);
    assert.equal(v.clock.pending, 0);
  });

  it("handler calls never overlap, and the next message is read once a slow handler is done", async () => {
    const t = setup();
    const seen: string[] = [];
    let release: (() => void) | undefined;
    t.run({ handlers: { onMessage: (m) => {
      seen.push(`start ${m.topic}`);
      return new Promise<void>((resolve) => (release = () => {
        seen.push(`end ${m.topic}`);
        resolve();
      }));
    } } });
    await t.settle();
    t.feed.calls[0]!.send("a");
    t.feed.calls[0]!.send("b");
    await t.settle();
    assert.deepEqual(seen, ["start a"]);
    release!();
    await t.settle();
    assert.deepEqual(seen, ["start a", "end a", "start b"]);
    release!();
    t.controller.abort();
  });

  it("bidirectional: each stream gets its own request stream, which ends with it", async () => {
    const t = setup();
    const replies: string[] = [];
    const done = maintainGrpcStream({
      client: t.nexus, connectionId: "c1", transport: t.feed.transport, service: FeedService, signal: t.controller.signal,
      now: t.clock.now, timers: { setTimeout: (fn, ms) => t.clock.setTimer(fn, ms), clearTimeout: (c) => (c as () => void)() },
      refreshBeforeExpirySeconds: 30, logger: {},
      open: (client, call, info) => client.converse(hello(`hello ${info.id}`, call.signal), call),
      handlers: { onMessage: (reply, info) => void replies.push(`${info.id} ${reply.text}`) },
    });
    await t.settle();
    const [first] = t.feed.calls;
    assert.deepEqual(first!.requests, ["hello 1"]);
    first!.send("hi 1");
    await t.clock.advance(90_000);
    const second = t.feed.calls[1]!;
    assert.equal(second.credential, "Bearer get-2");
    assert.deepEqual(second.requests, ["hello 2"]);
    second.send("hi 2");
    await t.settle();
    assert.equal(first!.cancelled, true);
    assert.equal(first!.requestsEnded, true);
    assert.equal(second.requestsEnded, false);
    assert.deepEqual(replies, ["1 hi 1", "2 hi 2"]);
    t.controller.abort();
    await done;
    assert.equal(second.requestsEnded, true);
  });
});

/** A request stream: one greeting, then open until the stream's signal aborts. */
async function* hello(text: string, signal: AbortSignal) {
  yield { text };
  await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
}
