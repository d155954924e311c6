/**
 * Narrowed provider tokens and the connection's own token (issue 17): a
 * narrowing refresh mints a token for the sub-agent and stores the refresh
 * token the provider rotated, and must leave the connection's own access
 * token and its refresh schedule as they were. Here a sub-agent exchanges
 * often while the connection's short-lived token runs out: the owner must
 * still be handed a live token, refreshed on time, not the old one kept past
 * its expiry. Real waits are unavoidable: the refresh schedule lives in
 * PostgreSQL's clock, which a test cannot move.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startBroker } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { registerAgent } from "../support/agents.ts";
import { deliverCallback, registerProvider } from "../support/broker-api.ts";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import {
  assertExchangeRefused, type IssuedSessionJson, sessionClients, type SessionStack, type SessionTestClient, startSessionStack, userinfo,
} from "../support/sessions.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { sleep } from "../support/until.ts";

describe("narrowed provider tokens and the connection's own grant", () => {
  let f: SessionStack;

  before(async () => {
    // Provider tokens live 6 s: due for refresh 4 s in; refreshes at most every 3 s.
    f = await startSessionStack({ idp: { accessTokenTtl: 6 }, brokerEnv: { REFRESH_MIN_INTERVAL_SECONDS: "3" } });
  });
  after(() => f?.close());

  it("hands the owner a live token after its first one expired, while a sub-agent exchanged for narrowed tokens all along", async () => {
    const token = async () => {
      const res = await fetch(`${f.gatewayUrl}/v1/token/${f.connectionId}`, { headers: { authorization: `Bearer ${f.agents.A.apiKey}` } });
      assert.equal(res.status, 200);
      return ((await res.json()) as { credentials: { access_token: string } }).credentials.access_token;
    };
    const first = await token();
    const session = await sessionClients.REST(f.gatewayUrl, f.agents.A.apiKey)
      .createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid", "profile"], ttl_seconds: 300 });
    const b = sessionClients.REST(f.gatewayUrl, f.agents.B.apiKey);
    const started = Date.now();
    let exchanges = 0;
    // B exchanges every 300 ms for 7.5 s: past the first token's expiry (6 s) by a margin.
    while (Date.now() - started < 7500) {
      const x = await b.exchange({ subject_token: session.session_token });
      assert.deepEqual(await userinfo(f.idp, x.access_token), { sub: "test-user", name: "Test test-user" }, "each narrowed token is live and narrowed");
      exchanges++;
      await sleep(300);
    }
    const now = await token();
    assert.notEqual(now, first, `after ${exchanges} narrowing exchanges the owner still gets the token issued ${Date.now() - started} ms ago`);
    const claims = await userinfo(f.idp, now);
    assert.equal(typeof claims === "object" ? claims.email : `HTTP ${claims}`, "test-user@example.test", "the owner's token is live and has every scope");
  });

  it("never presents a rotated-away refresh token while two Brokers narrow for many sessions at once", async () => {
    // The IdP rotates on every refresh and revokes the whole grant when an old refresh token comes back.
    const broker2 = await startBroker(f.stack.brokerEnv, { port: 0, logWrite: () => {} });
    const gateway2 = await startGateway({ ...f.gatewayEnv, BROKER_URL: broker2.url }, { port: 0, logWrite: () => {} });
    try {
      const a = sessionClients.REST(f.gatewayUrl, f.agents.A.apiKey);
      const clearances = [["openid"], ["openid", "profile"], ["openid", "email"], ["openid", "email", "profile"]];
      const sessions = await Promise.all(clearances.map((scopes) => a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes, ttl_seconds: 300 })));
      const gateways = [f.gatewayUrl, gateway2.url];
      // Each narrowed token is tried at userinfo as soon as it arrives: tokens live 6 s, so checking them one by
      // one after the whole burst could outlast a token minted early on a slow host and blame the grant.
      const exchanges = Array.from({ length: 24 }, async (_, i) => {
        const x = await sessionClients.REST(gateways[i % 2]!, f.agents.B.apiKey).exchange({ subject_token: sessions[i % sessions.length]!.session_token });
        return { i, claims: await userinfo(f.idp, x.access_token) };
      });
      const forced = Array.from({ length: 4 }, () => fetch(`${gateways[1]}/v1/refresh/${f.connectionId}`, { method: "POST", headers: { authorization: `Bearer ${f.agents.A.apiKey}` } }));
      const results = await Promise.all(exchanges);
      assert.deepEqual((await Promise.all(forced)).map((r) => r.status), [200, 200, 200, 200]);
      for (const { i, claims } of results) assert.equal(typeof claims, "object", `exchange ${i}: HTTP ${String(claims)} at userinfo`);
      // The grant survived: one more refresh of the connection works, and its token has every scope.
      const res = await fetch(`${f.gatewayUrl}/v1/refresh/${f.connectionId}`, { method: "POST", headers: { authorization: `Bearer ${f.agents.A.apiKey}` } });
      assert.equal(res.status, 200);
      const claims = await userinfo(f.idp, ((await res.json()) as { credentials: { access_token: string } }).credentials.access_token);
      assert.equal(typeof claims === "object" ? claims.email : claims, "test-user@example.test");
    } finally {
      await gateway2.close();
      await broker2.close();
    }
  });
});

describe("a provider that says it narrows but does not", () => {
  let fake: FakeProvider;
  let stack: TestStack;
  let connectionId: string;
  let b: SessionTestClient;
  let session: IssuedSessionJson;

  before(async () => {
    fake = await startFakeProvider();
    stack = await startStack();
    await registerProvider(stack, {
      name: "fake", auth_type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, issuer: fake.issuer, enable_discovery: true,
      scopes: ["openid", "email", "profile"], params: { narrow_scopes_on_refresh: true },
    });
    const agentA = await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-a" });
    const agentB = await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-b" });
    const started = await (await fetch(`${stack.gateway.url}/v1/request-connection`, {
      method: "POST", headers: { authorization: `Bearer ${agentA.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: "ws", provider_name: "fake", return_url: "https://app.example.com/back" }),
    })).json() as { connection_id: string; auth_url: string };
    fake.script.push({ kind: "ok", extra: { scope: "openid email profile" } });
    assert.equal((await deliverCallback(stack, fake.authorize(started.auth_url))).status, 303);
    connectionId = started.connection_id;
    session = await sessionClients.REST(stack.gateway.url, agentA.apiKey).createSession({ connection_id: connectionId, agent_id: agentB.id, scopes: ["openid", "email"], ttl_seconds: 300 });
    b = sessionClients.REST(stack.gateway.url, agentB.apiKey);
  });
  after(async () => {
    await stack?.close();
    await fake?.close();
  });

  it("refuses a token the provider minted wider than asked, and keeps the refresh token it rotated", async () => {
    fake.script.push({ kind: "ok", extra: { scope: "openid email profile" } });
    const refused = await assertExchangeRefused(b.exchange({ subject_token: session.session_token, scope: "openid" }), "invalid_scope", "an un-narrowed token");
    assert.match(refused.message, /did not narrow/);
    assert.equal(fake.seen.at(-1)!.params.get("scope"), "openid", "the narrowing refresh asked for openid");
    // The refresh token the provider rotated on the way was stored: the connection refreshes with it.
    const res = await fetch(`${stack.gateway.url}/v1/refresh/${connectionId}`, { method: "POST", headers: { authorization: `Bearer ${stack.agentKey}` } });
    assert.equal(res.status, 200);
    assert.deepEqual({ grant: fake.seen.at(-1)!.grantType, scope: fake.seen.at(-1)!.params.get("scope") }, { grant: "refresh_token", scope: null });
    // Not cached either: the next exchange asks again, and a narrowed answer is handed out.
    fake.script.push({ kind: "ok", extra: { scope: "openid" } });
    const ok = await b.exchange({ subject_token: session.session_token, scope: "openid" });
    assert.equal(ok.scope, "openid");
  });
});
