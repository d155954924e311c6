/**
 * maintainGrpcStream against a real Broker + Gateway and a real gRPC server
 * (connect-node over HTTP/2, test/support/feed-server.ts) that accepts only
 * credentials that are current: a bearer while the test IdP's userinfo
 * endpoint accepts it (and the test has not revoked it), an API key while it
 * is on the allow-list. It checks the credential on every tick and ends a
 * stream with UNAUTHENTICATED as soon as the token it was opened with stops
 * being accepted.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Registry } from "prom-client";
import {
  createClientMetrics, createNexusClient, type GrpcStreamCloseInfo, type GrpcStreamInfo, maintainGrpcStream, type NexusClient, type Timers,
} from "../../src/client/mod.ts";
import { backoffDelay } from "../../src/client/backoff-delay.ts";
import { grpcTransport } from "../../src/client/node.ts";
import { type ClientStack, connectOAuth, connectStatic, registerIdp, registerStatic, startClientStack } from "../support/client-stack.ts";
import { type FeedServer, startFeedServer } from "../support/feed-server.ts";
import { FeedService } from "../support/feed-service.ts";
import { prng } from "../support/prng.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";
import { until } from "../support/until.ts";

/** Timers that record every wait asked of them and know which are still pending. */
function recordingTimers(): Timers & { pending: Set<unknown>; asked: number[] } {
  const pending = new Set<unknown>();
  const asked: number[] = [];
  return {
    pending, asked,
    setTimeout(fn, ms) {
      asked.push(ms);
      const handle = setTimeout(() => {
        pending.delete(handle);
        fn();
      }, ms);
      pending.add(handle);
      return handle;
    },
    clearTimeout(handle) {
      pending.delete(handle);
      clearTimeout(handle as NodeJS.Timeout);
    },
  };
}

/** A request stream: one greeting, then open until the stream's signal aborts. */
async function* hello(text: string, signal: AbortSignal) {
  yield { text };
  await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
}

describe("maintainGrpcStream against a real Gateway and a gRPC server that rotates what it accepts", () => {
  let stack: ClientStack;
  let shortIdp: TestIdp;
  let idp: TestIdp;
  let feed: FeedServer;
  let client: NexusClient;
  const keys = new Set<string>();
  const revoked = new Set<string>();

  before(async () => {
    const clients = [{ client_id: "agent-app", client_secret: "s3cret", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }];
    shortIdp = await startTestIdp({ clients, accessTokenTtl: 5 });
    idp = await startTestIdp({ clients });
    stack = await startClientStack();
    await registerIdp(stack, shortIdp, "feed-short", "agent-app", "s3cret");
    await registerIdp(stack, idp, "feed", "agent-app", "s3cret");
    await registerStatic(stack, "feed-key", "api_key", { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } }, ["api_key"]);
    feed = await startFeedServer();
    feed.tickMs = 100;
    feed.authorize = async (credential) => {
      if (!credential.startsWith("Bearer ")) return keys.has(credential);
      if (revoked.has(credential)) return false;
      for (const issuer of [shortIdp.issuer, idp.issuer]) {
        const me = await fetch(`${issuer}/me`, { headers: { authorization: credential } });
        await me.body?.cancel();
        if (me.status === 200) return true;
      }
      return false;
    };
    client = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, logger: {}, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 } });
  });
  after(async () => {
    await feed.close();
    await stack.close();
    await shortIdp.close();
    await idp.close();
  });

  it("server-streaming: a new stream with a fresh token before the old one expires, then the old one is cancelled; every event arrives once", async () => {
    const id = await connectOAuth(stack, shortIdp, "feed-short", "grpc-rotate");
    const first = feed.streams.length;
    const refusedBefore = feed.refused.length;
    const transport = grpcTransport(feed.url);
    const opened: (GrpcStreamInfo & { at: number })[] = [];
    const closes: GrpcStreamCloseInfo[] = [];
    const events = new Map<number, { client: number; seqs: number[] }>();
    const controller = new AbortController();
    const done = maintainGrpcStream({
      client, connectionId: id, transport, service: FeedService, signal: controller.signal, refreshBeforeExpirySeconds: 3, logger: {},
      open: (feedClient, call) => feedClient.subscribe({ topic: "orders" }, call),
      handlers: {
        onOpen: (info) => void opened.push({ ...info, at: Date.now() }),
        onMessage: (event, info) => {
          const seen = events.get(event.stream) ?? { client: info.id, seqs: [] };
          seen.seqs.push(event.seq);
          events.set(event.stream, seen);
        },
        onClose: (info) => void closes.push(info),
      },
    });
    try {
      await until("a second stream", async () => (feed.streams.length - first >= 2 ? true : undefined), 10_000, 50);
      await until("the first stream to end", async () => (feed.streams[first]!.end !== undefined ? true : undefined), 5000, 20);
      await until("events on the new stream", async () => ((events.get(feed.streams[first + 1]!.id)?.seqs.length ?? 0) >= 3 ? true : undefined), 5000, 20);
    } finally {
      controller.abort();
      await done;
      transport.close();
    }
    const [a, b] = [feed.streams[first]!, feed.streams[first + 1]!];
    assert.notEqual(b.credential, a.credential, "the new stream carries a different token");
    assert.ok(b.openedAt <= a.endedAt!, "the new stream opened before the old one ended");
    assert.equal(a.end, "cancelled", "the client cancelled the old stream; the server never had to refuse it");
    assert.ok(opened[1]!.at < opened[0]!.expiresAt! * 1000, "the new stream opened before the first token expired");
    assert.equal(feed.refused.length, refusedBefore, "no stale token was ever presented");
    assert.deepEqual(closes.map((c) => [c.id, c.cause]), [[1, "rotation"], [2, "stop"]]);
    for (const [served, { client: streamId, seqs }] of events) {
      const stream = feed.streams.find((s) => s.id === served)!;
      assert.equal(streamId, stream === a ? 1 : 2, "each event is reported with the stream it came on");
      assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `stream ${served}: every event once and in order`);
      assert.ok(seqs.length <= stream.sent);
    }
  });

  it("bidirectional: the rotation's new stream greets the server with the fresh token; the old one's requests end with it", async () => {
    const id = await connectOAuth(stack, shortIdp, "feed-short", "grpc-bidi");
    const first = feed.streams.length;
    const transport = grpcTransport(feed.url);
    const replies: string[] = [];
    const controller = new AbortController();
    const done = maintainGrpcStream({
      client, connectionId: id, transport, service: FeedService, signal: controller.signal, refreshBeforeExpirySeconds: 3, logger: {},
      open: (feedClient, call, info) => feedClient.converse(hello(`hello ${info.id}`, call.signal), call),
      handlers: { onMessage: (reply, info) => void replies.push(`${info.id} ${reply.text}`) },
    });
    try {
      await until("the second stream's reply", async () => (replies.includes("2 echo:hello 2") ? true : undefined), 10_000, 50);
      await until("the first stream to end", async () => (feed.streams[first]!.end !== undefined ? true : undefined), 5000, 20);
    } finally {
      controller.abort();
      await done;
      transport.close();
    }
    const [a, b] = [feed.streams[first]!, feed.streams[first + 1]!];
    assert.deepEqual([a.method, b.method], ["converse", "converse"]);
    assert.notEqual(b.credential, a.credential);
    assert.ok(b.openedAt <= a.endedAt!, "make before break");
    assert.deepEqual([a.received, b.received], [["hello 1"], ["hello 2"]]);
    assert.equal(a.end, "cancelled");
    assert.deepEqual(replies, ["1 echo:hello 1", "2 echo:hello 2"]);
    await until("the server to see the second stream end", async () => (b.end !== undefined ? true : undefined), 2000, 20);
    assert.equal(b.end, "cancelled");
  });

  it("after UNAUTHENTICATED it has Nexus refresh the token and reopens with the new one", async () => {
    const id = await connectOAuth(stack, idp, "feed", "grpc-unauth");
    const first = feed.streams.length;
    const transport = grpcTransport(feed.url);
    const registry = new Registry();
    const metrics = createClientMetrics(registry, { agent_id: "grpc-agent" });
    const measured = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, logger: {}, metrics });
    const closes: GrpcStreamCloseInfo[] = [];
    const controller = new AbortController();
    const done = maintainGrpcStream({
      client: measured, connectionId: id, transport, service: FeedService, signal: controller.signal, logger: {}, metrics,
      open: (feedClient, call) => feedClient.subscribe({ topic: "orders" }, call),
      handlers: { onClose: (info) => void closes.push(info) },
    });
    try {
      await until("the stream", async () => (feed.streams.length > first && feed.streams[first]!.sent > 0 ? true : undefined), 5000, 20);
      // The provider stops accepting the token (revoked on its side): the open stream is refused at its next tick.
      revoked.add(feed.streams[first]!.credential);
      await until("a reopened stream", async () => (feed.streams.length - first >= 2 ? true : undefined), 5000, 20);
    } finally {
      controller.abort();
      await done;
      transport.close();
    }
    const [a, b] = [feed.streams[first]!, feed.streams[first + 1]!];
    assert.equal(a.end, "unauthenticated");
    assert.notEqual(b.credential, a.credential, "a refreshed token");
    assert.ok(b.openedAt >= a.endedAt!, "reopened after the refusal");
    assert.ok(closes[0]!.error instanceof ConnectError && closes[0]!.error.code === Code.Unauthenticated);
    const text = await registry.metrics();
    assert.match(text, /nexus_client_refreshes_total\{agent_id="grpc-agent",status="success"\} 1\n/);
    assert.match(text, /nexus_client_reconnects_total\{agent_id="grpc-agent"\} 1\n/);
  });

  it("while the server is down it retries with growing waits (backoff, full jitter), and reopens once it is back", async () => {
    const key = `sk-grpc-${crypto.randomUUID()}`;
    keys.add(key);
    const id = await connectStatic(stack, "feed-key", "grpc-outage", { api_key: key });
    const first = feed.streams.length;
    const transport = grpcTransport(feed.url);
    const timers = recordingTimers();
    const draw = prng(7);
    const random = () => 0.5 + 0.5 * draw.next();
    const replica = prng(7);
    const bounds = { initialMs: 100, maxMs: 2000 };
    const errors: unknown[] = [];
    const controller = new AbortController();
    const done = maintainGrpcStream({
      client, connectionId: id, transport, service: FeedService, signal: controller.signal, timers, random, logger: {}, backoff: bounds,
      open: (feedClient, call) => feedClient.subscribe({ topic: "orders" }, call),
      handlers: { onError: (e) => void errors.push(e) },
    });
    try {
      await until("the stream", async () => (feed.streams.length > first && feed.streams[first]!.sent > 0 ? true : undefined), 5000, 20);
      assert.equal(feed.streams[first]!.credential, key);
      await feed.stop();
      try {
        await until("four failed reopens", async () => (errors.length >= 5 ? true : undefined), 10_000, 20);
      } finally {
        await feed.start();
      }
      const restarted = () => feed.streams.length > first + 1 && feed.streams.at(-1)!.sent > 0;
      await until("a stream on the restarted server", async () => (restarted() ? true : undefined), 10_000, 20);
    } finally {
      controller.abort();
      await done;
      transport.close();
    }
    assert.equal(feed.streams.at(-1)!.credential, key);
    const codes = errors.map((e) => (e instanceof ConnectError ? Code[e.code] : String(e)));
    assert.ok(codes.slice(1).every((c) => c === "Unavailable"), `reopening a refused connection is UNAVAILABLE: ${codes.join(", ")}`);
    // The static key has no expiry: every wait the loop asked for is a backoff wait, drawn as the replica draws.
    const expected = timers.asked.map((_, n) => backoffDelay(n, bounds, () => 0.5 + 0.5 * replica.next()));
    assert.deepEqual(timers.asked, expected);
    assert.ok(timers.asked.length >= 5);
    for (let n = 1; n < 4; n++) assert.ok(timers.asked[n]! > timers.asked[n - 1]!, `the waits grow: ${timers.asked.join(", ")}`);
  });

  it("abort stops everything: the server sees the stream cancelled, no timer is left, and the transport leaves no HTTP/2 session", async () => {
    const id = await connectOAuth(stack, idp, "feed", "grpc-abort");
    const first = feed.streams.length;
    const transport = grpcTransport(feed.url);
    const timers = recordingTimers();
    const controller = new AbortController();
    let settled = false;
    const done = maintainGrpcStream({
      client, connectionId: id, transport, service: FeedService, signal: controller.signal, timers, logger: {},
      open: (feedClient, call) => feedClient.subscribe({ topic: "orders" }, call),
      handlers: {},
    }).finally(() => (settled = true));
    await until("the stream", async () => (feed.streams.length > first && feed.streams[first]!.sent > 0 ? true : undefined), 5000, 20);
    assert.equal(timers.pending.size, 1, "the rotation timer is armed for the 60 s token");
    assert.equal(settled, false);
    controller.abort();
    await done;
    assert.equal(timers.pending.size, 0, "every timer of the loop was cleared");
    await until("the server to see the stream end", async () => (feed.streams[first]!.end !== undefined ? true : undefined), 2000, 10);
    assert.equal(feed.streams[first]!.end, "cancelled");
    assert.deepEqual(feed.open(), []);
    assert.equal(feed.sessions(), 1, "the transport's connection stays for its owner to reuse");
    transport.close();
    await until("no HTTP/2 session", async () => (feed.sessions() === 0 ? true : undefined), 2000, 10);
  });
});
