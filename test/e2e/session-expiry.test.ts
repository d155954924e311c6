/**
 * A session's clearance is fixed when it is made (issue 17): a child cannot
 * outlive its parent, an expired session is refused, nothing extends or
 * widens one, and housekeeping prunes them once the retention has passed.
 * The Broker runs on an injected clock, so expiry needs no waiting.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SessionService as BrokerSessionService } from "../../gen/nexus/broker/v1/session_service_pb.ts";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { registerAgent } from "../support/agents.ts";
import { until } from "../support/until.ts";
import { assertExchangeRefused, refusal, sessionClients, type SessionStack, type SessionTestClient, startSessionStack } from "../support/sessions.ts";

describe("session expiry and immutability", () => {
  let f: SessionStack;
  /** How far the Broker's clock is ahead of the wall clock. */
  let skewMs = 0;
  const brokerNow = () => Date.now() + skewMs;
  const brokerSeconds = () => Math.floor(brokerNow() / 1000);
  let a: SessionTestClient;
  let b: SessionTestClient;
  let c: SessionTestClient;
  /** B's session from A: openid profile, limited to *.example.com. */
  const root = (ttl: number) => a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid", "profile"], ttl_seconds: ttl, allowed_hosts: ["*.example.com"] });

  before(async () => {
    f = await startSessionStack({ now: brokerNow, idp: { accessTokenTtl: 3600 }, brokerEnv: { SESSION_RETENTION_DAYS: "1" }, housekeepingIntervalMs: 200 });
    [a, b, c] = (["A", "B", "C"] as const).map((n) => sessionClients.REST(f.gatewayUrl, f.agents[n].apiKey)) as [SessionTestClient, SessionTestClient, SessionTestClient];
  });
  after(() => f?.close());

  it("refuses a child with a ttl past its parent's expiry, and a ttl of 0 ends it with the parent", async () => {
    const parent = await root(120);
    const outliving = await refusal(b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, ttl_seconds: 121 }));
    assert.equal(outliving.error, "invalid_argument", outliving.message);
    assert.equal(outliving.status, 400);
    assert.match(outliving.message, /outlive its parent/);
    const inherited = await b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, parent_session_id: parent.session_id });
    assert.equal(inherited.expires_at, parent.expires_at);
    const shorter = await b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, ttl_seconds: 60, parent_session_id: parent.session_id });
    assert.ok(shorter.expires_at <= brokerSeconds() + 60 && shorter.expires_at < parent.expires_at);
    // Later in the parent's life the same request fits less: 100 s on, 21 s is already too long.
    skewMs += 100_000;
    try {
      assert.equal((await refusal(b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, ttl_seconds: 21, parent_session_id: parent.session_id }))).error, "invalid_argument");
      const late = await b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, parent_session_id: parent.session_id });
      assert.equal(late.expires_at, parent.expires_at, "ttl 0 late in the parent's life still ends with it, not an hour on");
    } finally {
      skewMs -= 100_000;
    }
  });

  it("refuses an expired session, its children, and delegation from it; the exchanged credential never outlives the session", async () => {
    // An agent of its own: B still holds live sessions from the tests before.
    const agentD = await registerAgent(f.stack.broker.url, f.stack.adminKey, { name: "agent-d" });
    const d = sessionClients.REST(f.gatewayUrl, agentD.apiKey);
    const session = await a.createSession({ connection_id: f.connectionId, agent_id: agentD.id, scopes: ["openid", "profile"], ttl_seconds: 60 });
    const child = await d.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, scopes: ["openid"], parent_session_id: session.session_id });
    const live = await d.exchange({ subject_token: session.session_token });
    // The provider's token lives an hour; the exchange hands it out only for what is left of the session.
    assert.ok(live.expires_in > 0 && live.expires_in <= 60, `expires_in ${live.expires_in}`);
    assert.ok(live.credential.expires_at! <= session.expires_at, `credential expires_at ${live.credential.expires_at} > ${session.expires_at}`);
    assert.equal((await c.exchange({ subject_token: child.session_token })).scope, "openid");

    skewMs += 61_000;
    try {
      const expired = await assertExchangeRefused(d.exchange({ subject_token: session.session_token }), "invalid_grant", "expired session");
      assert.match(expired.message, /expired/);
      await assertExchangeRefused(c.exchange({ subject_token: child.session_token }), "invalid_grant", "child of an expired session");
      assert.equal((await d.getSession(session.session_id)).status, "expired");
      assert.equal((await c.getSession(child.session_id)).status, "expired");
      // D holds no live session any more: it cannot delegate, implicitly or by naming the expired one.
      assert.equal((await refusal(d.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id }))).error, "agent_not_authorized");
      assert.equal((await refusal(d.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, parent_session_id: session.session_id }))).error, "invalid_grant");
    } finally {
      skewMs -= 61_000;
    }
  });

  it("has no method that changes a session, and a holder cannot widen or extend its own through a new one", async () => {
    // The whole surface: create, read, revoke, exchange, keys; no update, extend or renew.
    assert.deepEqual(GatewayService.methods.map((m) => m.name).filter((n) => /session/i.test(n)), ["CreateSession", "GetSession", "RevokeSession"]);
    assert.deepEqual(BrokerSessionService.methods.map((m) => m.name).filter((n) => /session(?!Key)/i.test(n)), ["CreateSession", "GetSession", "ListSessions", "RevokeSession"]);
    const session = await root(300);
    for (const method of ["PATCH", "PUT", "POST"]) {
      const res = await fetch(`${f.gatewayUrl}/v1/sessions/${session.session_id}`, {
        method, headers: { authorization: `Bearer ${f.agents.A.apiKey}`, "content-type": "application/json" }, body: JSON.stringify({ scopes: ["openid", "email"], ttl_seconds: 86_400 }),
      });
      await res.body?.cancel();
      assert.ok(res.status === 405 || res.status === 404, `${method} /v1/sessions/{id}: ${res.status}`);
    }

    // B, holding openid profile until T, asks for a session of its own with more.
    const wider = await refusal(b.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid", "profile", "email"] }));
    assert.equal(wider.error, "invalid_scope", wider.message);
    // Nor past the configured maximum lifetime (SESSION_MAX_TTL_SECONDS, a day by default), even for the connection's owner.
    assert.equal((await refusal(a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, ttl_seconds: 86_401 }))).error, "invalid_argument");
    const longer = await refusal(b.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, ttl_seconds: 3600 }));
    assert.equal(longer.error, "invalid_argument", longer.message);
    const elsewhere = await refusal(b.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, allowed_hosts: ["api.evil.test"] }));
    assert.equal(elsewhere.error, "invalid_scope", elsewhere.message);
    // Asking for nothing in particular gets the parent's clearance, not the connection's.
    const same = await b.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id });
    assert.deepEqual(
      { scopes: same.scopes, hosts: same.allowed_hosts, parent: same.parent_session_id, notLater: same.expires_at <= session.expires_at },
      { scopes: ["openid", "profile"], hosts: ["*.example.com"], parent: session.session_id, notLater: true },
    );
    await assertExchangeRefused(b.exchange({ subject_token: same.session_token, scope: "email" }), "invalid_scope", "the re-issued session");
    // The hosts travel with the credential, so a client can refuse to send it elsewhere.
    assert.equal((await b.exchange({ subject_token: same.session_token })).credential.strategy.config.allowed_hosts, "*.example.com");
    // And the original is unchanged by all of it.
    const now = await a.getSession(session.session_id);
    assert.deepEqual({ scopes: now.scopes, expires: now.expires_at, hosts: now.allowed_hosts }, { scopes: ["openid", "profile"], expires: session.expires_at, hosts: ["*.example.com"] });
  });

  it("keeps expired and revoked sessions for the audit trail, and housekeeping prunes them after the retention", async () => {
    const expiring = await root(60);
    const revoked = await root(3600);
    await a.revokeSession(revoked.session_id);
    skewMs += 61_000;
    const kept = await f.stack.db.sql`select id from sessions where id in (${expiring.session_id}, ${revoked.session_id})`;
    assert.equal(kept.length, 2, "expired and revoked sessions stay for the audit trail");
    skewMs += 86_400_000 + 3_600_000;
    const fresh = await root(3600);
    // Housekeeping sweeps every 200 ms here and prunes once an hour of the Broker's clock has passed: at its next sweep.
    await until("the sessions pruned", async () => {
      const rows = await f.stack.db.sql`select id from sessions where id in (${expiring.session_id}, ${revoked.session_id})`;
      return rows.length === 0 ? true : undefined;
    }, 10_000, 100);
    assert.equal((await f.stack.db.sql`select id from sessions where id = ${fresh.session_id}`).length, 1, "a live session is not pruned");
  });
});
