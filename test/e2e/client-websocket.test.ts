import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Registry } from "prom-client";
import WebSocket from "ws";
import {
  createClientMetrics, createNexusClient, maintainWebSocket, type NexusClient, NexusClientError, type WebSocketCloseInfo, type WebSocketFactory,
} from "../../src/client/mod.ts";
import { brokerRest } from "../support/broker-api.ts";
import { type ClientStack, connectOAuth, connectStatic, registerIdp, registerStatic, startClientStack } from "../support/client-stack.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";
import { until } from "../support/until.ts";
import { startWsStandIn, type WsStandIn } from "../support/ws-stand-in.ts";

/** The documented Node 20 factory. */
const webSocket: WebSocketFactory<WebSocket> = (url, { headers, protocols }) => new WebSocket(url, protocols, { headers });

/** A seeded PRNG (mulberry32), so backoff waits are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Timers that know which of theirs are still pending. */
function trackedTimers() {
  const pending = new Set<unknown>();
  return {
    pending,
    setTimeout(fn: () => void, ms: number): unknown {
      const h = setTimeout(() => {
        pending.delete(h);
        fn();
      }, ms);
      pending.add(h);
      return h;
    },
    clearTimeout(h: unknown) {
      pending.delete(h);
      clearTimeout(h as NodeJS.Timeout);
    },
  };
}

const timeoutHandles = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("maintainWebSocket against a real Gateway and a ws server that checks credentials", () => {
  let stack: ClientStack;
  let shortIdp: TestIdp;
  let idp: TestIdp;
  let ws: WsStandIn;
  let client: NexusClient;
  const keys = new Set<string>();

  before(async () => {
    const clients = [{ client_id: "agent-app", client_secret: "s3cret", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }];
    shortIdp = await startTestIdp({ clients, accessTokenTtl: 5 });
    idp = await startTestIdp({ clients });
    stack = await startClientStack();
    await registerIdp(stack, shortIdp, "idp-short", "agent-app", "s3cret");
    await registerIdp(stack, idp, "idp", "agent-app", "s3cret");
    await registerStatic(stack, "stream-key", "api_key", { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } }, ["api_key"]);
    ws = await startWsStandIn();
    // A bearer is accepted only while the IdP says it is valid; an API key only while it is on the allow-list.
    ws.authorize = async (req) => {
      if (req.headers["x-api-key"] !== undefined) return keys.has(String(req.headers["x-api-key"]));
      for (const issuer of [shortIdp.issuer, idp.issuer]) {
        const me = await fetch(`${issuer}/me`, { headers: { authorization: String(req.headers.authorization ?? "") } });
        await me.body?.cancel();
        if (me.status === 200) return true;
      }
      return false;
    };
    client = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, logger: {}, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 } });
  });
  after(async () => {
    await ws.close();
    await stack.close();
    await shortIdp.close();
    await idp.close();
  });

  async function staticConnection(workspace: string): Promise<string> {
    const key = `sk-${workspace}-${crypto.randomUUID()}`;
    keys.add(key);
    return connectStatic(stack, "stream-key", workspace, { api_key: key });
  }

  it("reconnects after drops with growing delays, and starts over after a socket that stayed up", async () => {
    const id = await staticConnection("ws-drops");
    const first = ws.sockets.length;
    let drops = 5;
    ws.onConnection = (s) => {
      if (drops-- > 0) setTimeout(() => s.socket.close(1011, "flaky"), 10);
    };
    const prng = seeded(42);
    const random = () => 0.5 + 0.5 * prng();
    const replica = seeded(42);
    const controller = new AbortController();
    const done = maintainWebSocket({ client, connectionId: id, url: ws.url, webSocket, handlers: {}, signal: controller.signal, backoff: { initialMs: 50, maxMs: 1000, stableMs: 400 }, random, logger: {} });
    await until("six connections", async () => (ws.sockets.length - first >= 6 ? true : undefined), 10_000, 20);
    const mine = ws.sockets.slice(first);
    const gaps = mine.slice(1, 6).map((s, i) => s.openedAt - mine[i]!.closedAt!);
    const expected = [0, 1, 2, 3, 4].map((n) => Math.floor((0.5 + 0.5 * replica()) * Math.min(1000, 50 * 2 ** n)));
    // Jitter in [0.5, 1) of a doubling ceiling: each wait is at least the previous ceiling, so the lower bounds grow.
    for (let i = 0; i < 5; i++) {
      assert.ok(gaps[i]! >= expected[i]! - 5, `gap ${i} is ${gaps[i]} ms, the backoff said ${expected[i]} ms (${gaps.join(", ")})`);
      assert.ok(gaps[i]! < expected[i]! + 1000, `gap ${i} is ${gaps[i]} ms, far over the ${expected[i]} ms backoff`);
    }
    assert.ok(gaps[4]! >= 400 && gaps[0]! < gaps[4]!, `delays grew: ${gaps.join(", ")}`);
    // The sixth socket stays up past stableMs; after it drops, the wait starts from the bottom again.
    await new Promise((r) => setTimeout(r, 500));
    ws.dropAll();
    await until("the seventh connection", async () => (ws.sockets.length - first >= 7 ? true : undefined), 5000, 20);
    const reset = ws.sockets[first + 6]!.openedAt - ws.sockets[first + 5]!.closedAt!;
    // Without the reset the seventh wait would be 500-1000 ms; with it, 25-50 ms.
    assert.ok(reset < 400, `after a stable socket the wait is back near ${expected[0]} ms, not ${gaps[4]} ms: ${reset} ms`);
    controller.abort();
    await done;
  });

  it("re-authenticates before expiry: a NEW socket with a fresh token, then the old one closes", async () => {
    const id = await connectOAuth(stack, shortIdp, "idp-short", "ws-rotate");
    const first = ws.sockets.length;
    ws.onConnection = () => {};
    const opened: WebSocket[] = [];
    const closes: WebSocketCloseInfo[] = [];
    const messages: string[] = [];
    const controller = new AbortController();
    const done = maintainWebSocket({
      client, connectionId: id, url: ws.url, webSocket, signal: controller.signal, refreshBeforeExpirySeconds: 3, logger: {},
      handlers: {
        onOpen: (socket) => {
          opened.push(socket);
          socket.send(`hello ${opened.length}`);
        },
        onMessage: (data) => messages.push(String(data)),
        onClose: (info) => closes.push(info),
      },
    });
    await until("a second socket", async () => (ws.sockets.length - first >= 2 ? true : undefined), 8000, 50);
    await until("the first socket to close", async () => (ws.sockets[first]!.closedAt !== undefined ? true : undefined), 3000, 20);
    const [a, b] = [ws.sockets[first]!, ws.sockets[first + 1]!];
    assert.notEqual(b.credential, a.credential, "the new socket carries a different token");
    assert.ok(b.openedAt <= a.closedAt!, "the new socket opened before the old one closed");
    assert.ok(b.openedAt - a.openedAt < 4500, `rotated before the 5 s token expired (after ${b.openedAt - a.openedAt} ms)`);
    assert.equal(a.closeCode, 1000);
    assert.equal(ws.open().filter((s) => ws.sockets.indexOf(s) >= first).length, 1, "one socket at a time, apart from the overlap");
    assert.deepEqual(closes.map((c) => c.cause), ["rotation"]);
    await until("both echoes", async () => (messages.length >= 2 ? true : undefined), 2000, 20);
    assert.deepEqual(messages.sort(), ["echo:hello 1", "echo:hello 2"]);
    controller.abort();
    await done;
    assert.equal(ws.refused.length, 0, "no stale token was ever presented");
  });

  it("survives failed credential fetches while the Broker is down, and reconnects once it is back", async () => {
    const id = await staticConnection("ws-outage");
    const registry = new Registry();
    const metrics = createClientMetrics(registry, { agent_id: "ws-agent" });
    const errors: unknown[] = [];
    const first = ws.sockets.length;
    ws.onConnection = () => {};
    const controller = new AbortController();
    let settled = false;
    const done = maintainWebSocket({
      client, connectionId: id, url: ws.url, webSocket, signal: controller.signal, backoff: { initialMs: 50, maxMs: 200 }, metrics, logger: {},
      handlers: { onError: (e) => errors.push(e) },
    }).finally(() => (settled = true));
    await until("the first connection", async () => (ws.open().length > 0 && ws.sockets.length > first ? true : undefined), 5000, 20);
    await stack.stopBroker();
    try {
      ws.dropAll();
      await until("a few failed credential fetches", async () => (errors.filter((e) => e instanceof NexusClientError && e.reason === "unavailable").length >= 3 ? true : undefined), 8000, 20);
      assert.equal(settled, false, "the loop is still running");
    } finally {
      await stack.startBroker();
    }
    await until("a reconnect after the Broker is back", async () => (ws.sockets.length - first >= 2 && ws.sockets.at(-1)!.closedAt === undefined ? true : undefined), 10_000, 50);
    assert.equal(settled, false);
    assert.match(await registry.metrics(), /nexus_client_reconnects_total\{agent_id="ws-agent"\} ([3-9]|\d\d+)\n/);
    controller.abort();
    await done;
  });

  it("a permanent answer (connection_revoked) ends the loop with that error", async () => {
    const id = await staticConnection("ws-revoked");
    ws.onConnection = () => {};
    const controller = new AbortController();
    const done = maintainWebSocket({ client, connectionId: id, url: ws.url, webSocket, signal: controller.signal, backoff: { initialMs: 20, maxMs: 50 }, handlers: {}, logger: {} });
    await until("the connection", async () => (ws.open().some((s) => s.credential.startsWith("sk-ws-revoked")) ? true : undefined), 5000, 20);
    assert.equal((await brokerRest(stack.admin, "DELETE", `/connections/${id}`)).status, 200);
    ws.dropAll();
    await assert.rejects(done, (e) => e instanceof NexusClientError && e.reason === "connection_revoked");
    controller.abort();
  });

  it("on abort it resolves, closes the socket, and leaves no timer or handle behind", async () => {
    const id = await connectOAuth(stack, idp, "idp", "ws-abort");
    await client.getToken(id); // warm the Gateway and Broker paths before counting handles
    ws.onConnection = () => {};
    const baseline = timeoutHandles();
    const timers = trackedTimers();
    const controller = new AbortController();
    const first = ws.sockets.length;
    const done = maintainWebSocket({ client, connectionId: id, url: ws.url, webSocket, signal: controller.signal, timers, handlers: {}, logger: {} });
    await until("the connection", async () => (ws.sockets.length > first ? true : undefined), 5000, 20);
    // The server sees the socket before the client's open handler arms the timer: wait for it.
    await until("the rotation timer", async () => (timers.pending.size > 0 ? true : undefined), 2000, 10);
    assert.equal(timers.pending.size, 1, "the rotation timer is armed for the 60 s token");
    controller.abort();
    const t0 = Date.now();
    await done;
    assert.ok(Date.now() - t0 < 1000, "resolves promptly");
    assert.equal(timers.pending.size, 0, "every timer of the loop was cleared");
    await until("the server to see the close", async () => (ws.sockets[first]!.closedAt !== undefined ? true : undefined), 2000, 10);
    assert.equal(ws.sockets[first]!.closeCode, 1000);
    // The in-process Gateway and Broker keep their own timers (idle keep-alive sockets close after 4 s): give them time.
    await until("no extra Timeout handle", async () => (timeoutHandles() <= baseline ? true : undefined), 6000, 50);

    // Aborting during a backoff wait resolves at once too.
    const again = new AbortController();
    const sleeping = trackedTimers();
    const unreachable = maintainWebSocket({ client, connectionId: id, url: "ws://127.0.0.1:1/nothing", webSocket, signal: again.signal, timers: sleeping, backoff: { initialMs: 10_000, maxMs: 10_000 }, handlers: {}, logger: {} });
    await until("a backoff wait", async () => (sleeping.pending.size > 0 ? true : undefined), 5000, 10);
    const t1 = Date.now();
    again.abort();
    await unreachable;
    assert.ok(Date.now() - t1 < 200);
    assert.equal(sleeping.pending.size, 0);
  });

  it("without a factory on Node 20 it says to pass a ws factory", { skip: typeof (globalThis as { WebSocket?: unknown }).WebSocket !== "undefined" }, async () => {
    const id = await staticConnection("ws-default");
    const e = await maintainWebSocket({ client, connectionId: id, url: ws.url, signal: new AbortController().signal, handlers: {}, logger: {} }).then(() => assert.fail("expected a rejection"), (error: unknown) => error);
    assert.ok(e instanceof NexusClientError);
    assert.equal(e.reason, "unsupported_runtime");
    assert.match(e.message, /ws/);
  });
});
