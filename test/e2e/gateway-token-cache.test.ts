/**
 * The Gateway's token cache, with two Gateways on two Brokers over one real
 * PostgreSQL (Gateway 1 -> proxy -> Broker A, Gateway 2 -> proxy -> Broker B):
 * a repeated GetToken is answered by the Gateway alone, and yet a revoked
 * connection, a disabled agent, a rotated key, a refreshed token or a revoked
 * session reaches every Gateway within a second, wherever it happened; the
 * cache is bypassed while its change stream is down; every read, cached or
 * not, is counted in the audit log, shutdown included; and no refresh token
 * ever crosses from a Broker to a Gateway.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type RunningService, startBroker } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { registerAgent, type RegisteredAgent } from "../support/agents.ts";
import { brokerRestAt } from "../support/broker-api.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import { type RecordingProxy, startRecordingProxy } from "../support/recording-proxy.ts";
import { sessionClients } from "../support/sessions.ts";
import { testBrokerEnv } from "../support/stack.ts";
import { until } from "../support/until.ts";

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

describe("the Gateway token cache across two Gateways and two Brokers", () => {
  let db: TestDatabase;
  let fake: FakeProvider;
  let brokerEnv: Record<string, string>;
  let brokerA: RunningService;
  let brokerB: RunningService;
  let aPort: number;
  const proxies: RecordingProxy[] = [];
  const gateways: RunningService[] = [];
  const closed = new Set<RunningService>();
  const adminKey = `admin-${randomBytes(18).toString("base64url")}`;

  const admin = (broker: RunningService, method: string, path: string, body?: unknown) => brokerRestAt(broker.url, adminKey, method, path, body);

  async function call(gateway: RunningService, key: string, method: string, path: string, body?: unknown): Promise<Reply> {
    const res = await fetch(`${gateway.url}${path}`, {
      method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  const token = (gateway: RunningService, key: string, id: string) => call(gateway, key, "GET", `/v1/token/${id}`);
  const secret = (r: Reply) => (r.body.credentials as Record<string, string> | undefined)?.api_key ?? (r.body.credentials as Record<string, string> | undefined)?.access_token;
  const reason = (r: Reply) => ((r.body.details as { debug?: { reason?: string } }[] | undefined) ?? [])[0]?.debug?.reason;

  async function hits(gateway: RunningService): Promise<number> {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    return Number(/nexus_gateway_token_cache_lookups_total\{result="hit"\} (\d+)/.exec(text)?.[1] ?? 0);
  }

  /** How many GetToken calls a Broker answered (its own cache lookups, hit or not). */
  async function tokenLookups(broker: RunningService): Promise<number> {
    const text = await (await fetch(`${broker.url}/metrics`)).text();
    return [...text.matchAll(/^nexus_token_cache_lookups_total\{result="\w+"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  }

  /** Reads until `gateway` answers from its cache (its change stream is in sync and the answer kept). */
  async function warm(gateway: RunningService, key: string, id: string): Promise<Reply> {
    return until("an answer from the Gateway's cache", async () => {
      const before = await hits(gateway);
      const r = await token(gateway, key, id);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (await hits(gateway)) > before ? r : undefined;
    }, 10_000, 20);
  }

  /** Polls `probe` on every Gateway until each says yes; fails unless all did within 1 s of now. */
  async function everywhereWithinOneSecond(what: string, probe: (gateway: RunningService) => Promise<boolean>): Promise<void> {
    const started = performance.now();
    await Promise.all(gateways.map((g, i) => until(`${what} on Gateway ${i + 1}`, async () => ((await probe(g)) ? true : undefined), 1000, 5)));
    assert.ok(performance.now() - started <= 1000, `${what}: ${Math.round(performance.now() - started)} ms`);
  }

  async function staticConnection(agent: RegisteredAgent, apiKey = `sk_${randomBytes(8).toString("hex")}`): Promise<string> {
    const started = await call(gateways[0]!, agent.apiKey, "POST", "/v1/request-connection", { user_id: `ws-${randomBytes(4).toString("hex")}`, provider_name: "keys", return_url: "https://app.example.com/" });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const res = await fetch(`${gateways[0]!.url}/v1/capture-credential`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ state: started.body.state, credentials: { api_key: apiKey } }) });
    assert.equal(res.status, 200);
    return started.body.connection_id as string;
  }

  async function oauthConnection(agent: RegisteredAgent): Promise<string> {
    const started = await call(gateways[0]!, agent.apiKey, "POST", "/v1/request-connection", { user_id: "ws-oauth", provider_name: "fake", scopes: ["openid"], return_url: "https://app.example.com/" });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const back = fake.authorize(started.body.auth_url as string);
    assert.equal((await fetch(`${brokerA.url}/auth/callback${back.search}`, { redirect: "manual" })).status, 303);
    return started.body.connection_id as string;
  }

  const agent = (name: string) => registerAgent(brokerA.url, adminKey, { name: `${name}-${randomBytes(3).toString("hex")}` });

  async function stop(service: RunningService): Promise<void> {
    if (closed.has(service)) return;
    closed.add(service);
    await service.close();
  }

  before(async () => {
    db = await createTestDatabase();
    fake = await startFakeProvider();
    brokerEnv = testBrokerEnv(db.url, adminKey, { LOG_LEVEL: "warn" });
    brokerA = await startBroker(brokerEnv, { port: 0, logWrite: () => {} });
    brokerB = await startBroker(brokerEnv, { port: 0, logWrite: () => {} });
    aPort = brokerA.port;
    for (const broker of [brokerA, brokerB]) {
      const proxy = await startRecordingProxy(broker.port);
      proxies.push(proxy);
      gateways.push(await startGateway({ BROKER_URL: proxy.url, BROKER_API_KEY: adminKey, LOG_LEVEL: "warn" }, { port: 0, logWrite: () => {} }));
    }
    for (const profile of [
      { name: "keys", auth_type: "api_key" },
      { name: "fake", auth_type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, issuer: fake.issuer, enable_discovery: true, scopes: ["openid"] },
    ]) assert.equal((await admin(brokerA, "POST", "/providers", { profile })).status, 201);
  });

  after(async () => {
    for (const g of gateways) await stop(g);
    for (const b of [brokerA, brokerB]) if (b !== undefined) await stop(b);
    for (const p of proxies) await p.close();
    await fake?.close();
    await db?.close();
  });

  it("answers a repeated read from the Gateway alone: the Broker is not asked", async () => {
    const owner = await agent("repeat");
    const id = await staticConnection(owner, "sk_repeat");
    for (const g of gateways) await warm(g, owner.apiKey, id);
    const before = await Promise.all(gateways.map(hits));
    const brokerReads = await Promise.all([brokerA, brokerB].map(tokenLookups));
    for (let i = 0; i < 20; i++) for (const g of gateways) assert.equal(secret(await token(g, owner.apiKey, id)), "sk_repeat");
    const after = await Promise.all(gateways.map(hits));
    assert.deepEqual(after.map((n, i) => n - before[i]!), [20, 20]);
    assert.deepEqual(await Promise.all([brokerA, brokerB].map(tokenLookups)), brokerReads, "no GetToken reached either Broker");
  });

  it("refuses another agent the connection, however warm the owner's cached answer", async () => {
    const owner = await agent("owner");
    const stranger = await agent("stranger");
    const id = await staticConnection(owner);
    for (const g of gateways) {
      await warm(g, owner.apiKey, id);
      for (let i = 0; i < 5; i++) {
        const r = await token(g, stranger.apiKey, id);
        assert.equal(r.status, 403);
        assert.equal(reason(r), "agent_not_authorized");
      }
      assert.equal((await token(g, owner.apiKey, id)).status, 200);
    }
  });

  it("a revoked connection is refused by every Gateway within 1 s", async () => {
    const owner = await agent("revoke");
    const id = await staticConnection(owner);
    for (const g of gateways) await warm(g, owner.apiKey, id);
    assert.equal((await admin(brokerA, "DELETE", `/connections/${id}`)).status, 200);
    await everywhereWithinOneSecond("connection_revoked", async (g) => reason(await token(g, owner.apiKey, id)) === "connection_revoked");
    for (const broker of [brokerA, brokerB]) assert.equal((await admin(broker, "GET", `/connections/${id}/token`)).status, 400);
  });

  it("a disabled agent is refused by every Gateway within 1 s", async () => {
    const owner = await agent("disable");
    const id = await staticConnection(owner);
    for (const g of gateways) await warm(g, owner.apiKey, id);
    assert.equal((await admin(brokerB, "DELETE", `/agents/${owner.id}`)).status, 200);
    await everywhereWithinOneSecond("agent_disabled", async (g) => reason(await token(g, owner.apiKey, id)) === "agent_disabled");
  });

  it("a rotated key stops working on every Gateway within 1 s; the new one works", async () => {
    const owner = await agent("rotate");
    const id = await staticConnection(owner);
    for (const g of gateways) await warm(g, owner.apiKey, id);
    const rotated = await admin(brokerA, "POST", `/agents/${owner.id}/rotate-key`);
    assert.equal(rotated.status, 200);
    await everywhereWithinOneSecond("the old key refused", async (g) => reason(await token(g, owner.apiKey, id)) === "agent_key_invalid");
    for (const g of gateways) assert.equal((await token(g, rotated.body.api_key as string, id)).status, 200);
  });

  it("a refreshed token is what every Gateway answers within 1 s", async () => {
    const owner = await agent("refresh");
    const id = await oauthConnection(owner);
    const old = secret(await warm(gateways[1]!, owner.apiKey, id));
    await warm(gateways[0]!, owner.apiKey, id);
    const refreshed = await call(gateways[0]!, owner.apiKey, "POST", `/v1/refresh/${id}`);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const fresh = secret(refreshed);
    assert.notEqual(fresh, old);
    await everywhereWithinOneSecond("the new token", async (g) => secret(await token(g, owner.apiKey, id)) === fresh);
  });

  it("a revoked session is refused by every Gateway within 1 s", async () => {
    const owner = await agent("session-owner");
    const delegate = await agent("session-delegate");
    const id = await oauthConnection(owner);
    const session = await sessionClients.REST(gateways[0]!.url, owner.apiKey).createSession({ connection_id: id, agent_id: delegate.id, scopes: ["openid"], ttl_seconds: 300 });
    const exchange = (g: RunningService) => sessionClients.REST(g.url, delegate.apiKey).exchange({ subject_token: session.session_token }).then(() => true, () => false);
    for (const g of gateways) assert.equal(await exchange(g), true);
    await sessionClients.REST(gateways[1]!.url, owner.apiKey).revokeSession(session.session_id);
    await everywhereWithinOneSecond("the session refused", async (g) => !(await exchange(g)));
  });

  it("never answers from the cache while its change stream is cut, and is in sync again after", async () => {
    const owner = await agent("cut");
    const id = await staticConnection(owner, "sk_cut");
    const g1 = gateways[0]!;
    await warm(g1, owner.apiKey, id);
    proxies[0]!.cut();
    // Missed by the cut stream: revoked straight in the database, as another tool would.
    await db.sql`update connections set status = 'revoked' where id = ${id}`;
    const answers: number[] = [];
    const other = await staticConnection(owner);
    await until("Gateway 1 in sync again", async () => {
      answers.push((await token(g1, owner.apiKey, id)).status);
      const before = await hits(g1);
      await token(g1, owner.apiKey, other);
      return (await hits(g1)) > before ? true : undefined;
    }, 10_000, 20);
    answers.push((await token(g1, owner.apiKey, id)).status);
    assert.ok(!answers.includes(200), `answers for the revoked connection: ${answers.join(", ")}`);
  });

  it("bypasses its cache while its Broker is down, and never serves an answer that changed meanwhile", async () => {
    const owner = await agent("restart");
    const id = await staticConnection(owner, "sk_restart");
    const g1 = gateways[0]!;
    await warm(g1, owner.apiKey, id);
    await stop(brokerA);
    const whileDown = await token(g1, owner.apiKey, id);
    assert.notEqual(whileDown.status, 200, "the Broker is down: the cached answer is not trusted");
    assert.equal((await admin(brokerB, "DELETE", `/connections/${id}`)).status, 200);
    brokerA = await startBroker(brokerEnv, { port: aPort, logWrite: () => {} });
    const answers: number[] = [];
    await until("Gateway 1 answering again", async () => {
      const r = await token(g1, owner.apiKey, id);
      answers.push(r.status);
      return reason(r) === "connection_revoked" ? true : undefined;
    }, 15_000, 50);
    assert.ok(!answers.includes(200), `answers after the revocation: ${answers.join(", ")}`);
  });

  it("never sends a refresh token to a Gateway: not in answers, errors or the change stream", async () => {
    const owner = await agent("scan");
    const id = await oauthConnection(owner);
    for (const g of gateways) {
      await warm(g, owner.apiKey, id);
      assert.equal((await call(g, owner.apiKey, "POST", `/v1/refresh/${id}`)).status, 200);
      await token(g, owner.apiKey, id);
    }
    const issued = [...fake.validRefreshTokens, ...fake.seen.map((s) => s.params.get("refresh_token") ?? "").filter((t) => t !== "")];
    assert.ok(issued.length >= 3, "refresh tokens were issued and used");
    for (const [i, proxy] of proxies.entries()) {
      const traffic = proxy.received();
      assert.ok(traffic.length > 10_000, `Broker -> Gateway ${i + 1} traffic was recorded`);
      assert.ok(!traffic.includes("fake-rt-"), `a refresh token went to Gateway ${i + 1}`);
      for (const t of issued) assert.ok(!traffic.includes(t));
    }
  });

  it("counts every read in the audit log, cached or not, after a graceful shutdown too", async () => {
    const owner = await agent("audit");
    const id = await staticConnection(owner);
    // Every read counts, those that warm the caches (first answered by the Brokers) too.
    let reads = 0;
    const read = async (g: RunningService) => {
      reads++;
      return token(g, owner.apiKey, id);
    };
    for (const g of gateways) {
      await until("an answer from the cache", async () => {
        const before = await hits(g);
        assert.equal((await read(g)).status, 200);
        return (await hits(g)) > before ? true : undefined;
      }, 10_000, 20);
    }
    for (let i = 0; i < 60; i++) assert.equal((await read(gateways[i % 2]!)).status, 200);
    // Straight after the last read: what the Gateways hold reaches the Brokers as they drain, and the audit log after.
    for (const g of gateways) await stop(g);
    for (const b of [brokerA, brokerB]) await stop(b);
    const [row] = await db.sql<{ n: number; events: number }[]>`select coalesce(sum((details->>'count')::int), 0)::int as n, count(*)::int as events
      from audit_events where event_type = 'token.read' and outcome = 'success' and connection_id = ${id} and agent_id = ${owner.id}`;
    assert.equal(row!.n, reads, "N reads, N counted");
    assert.ok(row!.events < reads, `coalesced: ${row!.events} events for ${reads} reads`);
  });
});
