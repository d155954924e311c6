import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { type RunningService, startBroker } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { registerProvider } from "../support/broker-api.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import { freePort } from "../support/free-port.ts";
import type { TestStack } from "../support/stack.ts";

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("Gateway resilience", () => {
  let db: TestDatabase;
  let broker: RunningService | undefined;
  let gateway: RunningService;
  let brokerEnv: Record<string, string>;
  let brokerPort: number;
  let fake: FakeProvider;
  const agentKey = `agent-${randomBytes(16).toString("hex")}`;
  const adminKey = `admin-${randomBytes(16).toString("hex")}`;

  before(async () => {
    db = await createTestDatabase();
    fake = await startFakeProvider();
    brokerPort = await freePort();
    brokerEnv = {
      DATABASE_URL: db.url, ENCRYPTION_KEY: randomBytes(32).toString("base64"), STATE_KEY: randomBytes(32).toString("base64"),
      API_KEY: adminKey, BASE_URL: "http://127.0.0.1:1", ALLOWED_RETURN_DOMAINS: "app.example.com", ALLOW_HTTP_LOOPBACK_PROVIDERS: "true", REFRESH_MIN_INTERVAL_SECONDS: "1",
      // Provider calls get half the lease: 2 s.
      REFRESH_LEASE_SECONDS: "4",
    };
    broker = await startBroker(brokerEnv, { port: brokerPort, logWrite: () => {} });
    gateway = await startGateway({ BROKER_URL: broker.url, BROKER_API_KEY: adminKey, AGENT_API_KEYS: agentKey }, { port: 0, logWrite: () => {} });
  });
  after(async () => {
    await gateway.close();
    await broker?.close();
    await fake.close();
    await db.close();
  });

  it("fails fast with unavailable while the Broker is down, reports not ready, and recovers without a restart", async () => {
    const providers = () => fetch(`${gateway.url}/v1/providers`);
    assert.equal((await providers()).status, 200);
    await broker!.close();
    broker = undefined;
    const started = Date.now();
    const down = await providers();
    assert.equal(down.status, 503);
    const body = (await down.json()) as { code: string; message: string };
    assert.equal(body.code, "unavailable");
    assert.match(body.message, /^unavailable: the Broker is not reachable/);
    assert.ok(!/ECONNREFUSED|127\.0\.0\.1/.test(body.message), "no socket details leak to agents");
    assert.ok(Date.now() - started < 5000, "it fails fast, not after a long timeout");
    const client = createClient(GatewayService, createConnectTransport({ baseUrl: gateway.url, httpVersion: "2" }));
    await assert.rejects(client.getToken({ connectionId: crypto.randomUUID() }, { headers: { authorization: `Bearer ${agentKey}` } }),
      (e: unknown) => ConnectError.from(e).code === Code.Unavailable);
    await until("/healthz to say NOT_SERVING", async () => ((await fetch(`${gateway.url}/healthz`)).status === 503 ? true : undefined));

    broker = await startBroker(brokerEnv, { port: brokerPort, logWrite: () => {} });
    await until("the Gateway to reach the Broker again", async () => ((await providers()).status === 200 ? true : undefined));
    await until("/healthz to say SERVING", async () => ((await fetch(`${gateway.url}/healthz`)).status === 200 ? true : undefined));
  });

  it("passes the agent's deadline to the Broker: the agent's wait ends in time, the provider call only at the Broker's own deadline", async () => {
    const stack = { broker: broker!, adminKey } as unknown as TestStack;
    await registerProvider(stack, { name: "slow", auth_type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, issuer: fake.issuer, enable_discovery: true });
    const client = createClient(GatewayService, createConnectTransport({ baseUrl: gateway.url, httpVersion: "2" }));
    const headers = { authorization: `Bearer ${agentKey}` };
    const started = await client.requestConnection({ userId: "w", providerName: "slow", returnUrl: "https://app.example.com/" }, { headers });
    const callback = fake.authorize(started.authUrl);
    assert.equal((await fetch(`${broker!.url}/auth/callback${callback.search}`, { redirect: "manual" })).status, 303);
    fake.script.push({ kind: "hang" });
    const t0 = Date.now();
    await assert.rejects(client.refreshToken({ connectionId: started.connectionId }, { headers, timeoutMs: 800 }),
      (e: unknown) => ConnectError.from(e).code === Code.DeadlineExceeded);
    assert.ok(Date.now() - t0 < 1500, "the agent's deadline ended its call");
    // A refresh token on the wire must have its answer heard: the agent leaving does not abort the provider call.
    assert.equal(fake.abandoned.count, 0, "the provider request is still open after the agent left");
    await until("the Broker's own 2 s provider deadline to end the request", async () => (fake.abandoned.count === 1 ? true : undefined));
    assert.ok(Date.now() - t0 >= 1900, "ended by the Broker's deadline, not the agent's");
    const [row] = await db.sql<{ failureCount: number; lastError: string }[]>`select failure_count, last_error from credentials where connection_id = ${started.connectionId}`;
    assert.deepEqual([row!.failureCount, row!.lastError], [1, "timeout"], "the timeout is a counted, transient failure");
    assert.equal((await client.checkConnection({ connectionId: started.connectionId }, { headers })).status, "active");
  });
});
