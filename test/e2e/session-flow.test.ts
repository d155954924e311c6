/**
 * Sessions end to end (issue 17) against a real OpenID provider that narrows
 * tokens on refresh and rotates refresh tokens with reuse detection, on REST
 * (an RFC 8693 form, RFC 6749 error bodies), Connect (JSON) and gRPC:
 *
 *   agent A connects a user (openid email profile offline_access);
 *   A delegates openid profile to B for 5 minutes; B's exchanged token works
 *   at userinfo without the email claim; B asking for email is invalid_scope;
 *   A presenting B's token is invalid_grant; B delegates openid to C, C
 *   exchanges; A revokes B's session and both B and C are refused at once on
 *   other Gateways, one on the same Broker and one on a second Broker.
 *
 * Afterwards the connection still holds its own full-scope token, and its
 * refresh token (rotated by every narrowing refresh) still works.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type RunningService, startBroker } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import {
  accessTokenType, agentClients, assertExchangeRefused, decodeJwt, type Protocol, protocols, type SessionCallError, sessionClients, type SessionStack,
  startSessionStack, userinfo,
} from "../support/sessions.ts";

type Json = Record<string, unknown>;

describe("sessions: delegation A -> B -> C with narrowed provider tokens and revocation across replicas", () => {
  let f: SessionStack;
  let broker2: RunningService;
  /** Another Gateway on the same Broker, and one on a second Broker over the same database. */
  const replicas: { name: string; gateway: RunningService }[] = [];
  /** The connection's own access token before any session exists. */
  let ownToken: string;
  const propagation: { protocol: Protocol; replica: string; ms: number }[] = [];

  const credentialOf = async (path: string, method = "GET") => {
    const res = await fetch(`${f.gatewayUrl}${path}`, { method, headers: { authorization: `Bearer ${f.agents.A.apiKey}` } });
    assert.equal(res.status, 200, `${method} ${path}`);
    return (await res.json()) as { credentials: Record<string, string> };
  };

  before(async () => {
    // Provider tokens live 10 minutes: the connection's own token cannot change under the test unless Nexus replaces it.
    f = await startSessionStack({ idp: { accessTokenTtl: 600 } });
    broker2 = await startBroker(f.stack.brokerEnv, { port: 0, logWrite: (l) => void f.stack.logs.push(l) });
    // Every replica names the same public URL: the issuer of the session tokens they all accept.
    replicas.push({ name: "second Gateway, same Broker", gateway: await startGateway(f.gatewayEnv, { port: 0, logWrite: () => {} }) });
    replicas.push({ name: "third Gateway, second Broker", gateway: await startGateway({ ...f.gatewayEnv, BROKER_URL: broker2.url }, { port: 0, logWrite: () => {} }) });
    ownToken = (await credentialOf(`/v1/token/${f.connectionId}`)).credentials.access_token!;
    const claims = await userinfo(f.idp, ownToken);
    assert.equal(typeof claims === "object" && claims.email, "test-user@example.test");
  });

  after(async () => {
    for (const r of replicas) await r.gateway.close();
    await broker2?.close();
    await f?.close();
    if (propagation.length > 0) {
      console.log(`revocation propagation (revoke answered -> B and C refused): ${propagation.map((p) => `${p.protocol} ${p.replica} ${p.ms} ms`).join("; ")}`);
    }
  });

  for (const protocol of protocols) {
    it(`${protocol}: B gets a narrowed token, C a narrower one, and revoking B stops both on every replica within 1 s`, async (t) => {
      const [a, b, c] = agentClients(f, protocol);
      const elsewhere = replicas.map((r) => ({ name: r.name, b: sessionClients[protocol](r.gateway.url, f.agents.B.apiKey), c: sessionClients[protocol](r.gateway.url, f.agents.C.apiKey) }));
      try {
        // A delegates openid profile to B for five minutes.
        const before = Math.floor(Date.now() / 1000);
        const sb = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid", "profile"], ttl_seconds: 300 });
        assert.deepEqual(sb.scopes, ["openid", "profile"]);
        assert.equal(sb.parent_session_id, "");
        assert.ok(sb.expires_at >= before + 299 && sb.expires_at <= before + 301, `expires_at ${sb.expires_at}`);
        const tb = decodeJwt(sb.session_token);
        assert.equal(tb.header.typ, "nexus-session+jwt");
        assert.deepEqual(
          { iss: tb.payload.iss, sub: tb.payload.sub, jti: tb.payload.jti, scope: tb.payload.scope, act: tb.payload.act, conn: tb.payload.nexus_connection_id, exp: tb.payload.exp },
          { iss: f.gatewayUrl, sub: "ws-user", jti: sb.session_id, scope: "openid profile", act: { sub: f.agents.B.id, act: { sub: f.agents.A.id } }, conn: f.connectionId, exp: sb.expires_at },
        );

        // B exchanges it: a provider token minted for openid profile only.
        const xb = await b.exchange({ subject_token: sb.session_token });
        assert.equal(xb.issued_token_type, accessTokenType);
        assert.equal(xb.token_type, "Bearer");
        assert.deepEqual(xb.scope.split(" ").sort(), ["openid", "profile"]);
        assert.equal(xb.credential.credentials.access_token, xb.access_token);
        assert.notEqual(xb.access_token, ownToken);
        assert.ok(xb.expires_in > 0 && xb.expires_in <= 300, `expires_in ${xb.expires_in}`);
        assert.deepEqual(await userinfo(f.idp, xb.access_token), { sub: "test-user", name: "Test test-user" });

        // Outside the clearance, and someone else's session.
        await assertExchangeRefused(b.exchange({ subject_token: sb.session_token, scope: "openid email" }), "invalid_scope", "B asks for email");
        await assertExchangeRefused(a.exchange({ subject_token: sb.session_token }), "invalid_grant", "A presents B's session token");

        // B delegates openid to C: over REST the Broker finds B's session itself; the RPCs name it.
        const sc = await b.createSession({
          connection_id: f.connectionId, agent_id: f.agents.C.id, scopes: ["openid"], ...(protocol === "REST" ? {} : { parent_session_id: sb.session_id }),
        });
        assert.equal(sc.parent_session_id, sb.session_id);
        assert.deepEqual(sc.scopes, ["openid"]);
        assert.equal(sc.expires_at, sb.expires_at, "ttl 0: the child ends with its parent");
        assert.deepEqual(decodeJwt(sc.session_token).payload.act, { sub: f.agents.C.id, act: { sub: f.agents.B.id, act: { sub: f.agents.A.id } } });
        const xc = await c.exchange({ subject_token: sc.session_token });
        assert.equal(xc.scope, "openid");
        assert.deepEqual(await userinfo(f.idp, xc.access_token), { sub: "test-user" });

        // Both work on the other replicas before the revocation (nothing stale can hide behind a cold cache).
        for (const r of elsewhere) {
          assert.equal((await r.b.exchange({ subject_token: sb.session_token })).scope.split(" ").sort().join(" "), "openid profile", r.name);
          assert.equal((await r.c.exchange({ subject_token: sc.session_token })).scope, "openid", r.name);
        }

        // A, who delegated it, revokes B's session; C's goes with it.
        const revoked = await a.revokeSession(sb.session_id);
        const answered = performance.now();
        assert.equal(revoked.status, "revoked");
        for (const r of elsewhere) {
          const refused = new Set<string>();
          let ms = 0;
          while (refused.size < 2) {
            for (const [who, client, token] of [["B", r.b, sb.session_token], ["C", r.c, sc.session_token]] as const) {
              if (refused.has(who)) continue;
              try {
                await client.exchange({ subject_token: token });
              } catch (error) {
                assert.equal((error as SessionCallError).error, "invalid_grant", `${who} on ${r.name}: ${(error as Error).message}`);
                refused.add(who);
              }
            }
            ms = Math.round(performance.now() - answered);
            assert.ok(ms < 1000 || refused.size === 2, `${r.name}: ${[...refused].join(", ") || "neither"} refused after ${ms} ms`);
          }
          propagation.push({ protocol, replica: r.name, ms });
          t.diagnostic(`${r.name}: B and C refused ${ms} ms after the revocation`);
          assert.ok(ms < 1000, `${r.name}: ${ms} ms`);
        }
        await assertExchangeRefused(b.exchange({ subject_token: sb.session_token }), "invalid_grant", "B after the revocation");
        await assertExchangeRefused(c.exchange({ subject_token: sc.session_token }), "invalid_grant", "C after the revocation");
        assert.equal((await c.getSession(sc.session_id)).status, "revoked", "a child of a revoked session reads as revoked");
      } finally {
        for (const client of [a, b, c, ...elsewhere.flatMap((r) => [r.b, r.c])]) client.close();
      }
    });
  }

  it("keeps the connection's own full-scope token, and the refresh token every narrowing rotated still works", async () => {
    const narrowings = await f.stack.db.sql<{ n: number }[]>`select count(*)::int as n from audit_events
      where event_type = 'token.refreshed' and details->>'trigger' = 'narrow' and details->>'rotated' = 'true' and details->>'written' = 'true'`;
    // Each Broker narrowed (and the IdP rotated the refresh token) at least once.
    assert.ok(narrowings[0]!.n >= 2, `narrowing refreshes stored: ${narrowings[0]!.n}`);
    const stored = (await credentialOf(`/v1/token/${f.connectionId}`)).credentials;
    assert.equal(stored.access_token, ownToken, "the connection's own access token was not replaced by a narrowed one");
    assert.equal(((await userinfo(f.idp, stored.access_token!)) as Json).email, "test-user@example.test");
    // The IdP revokes the whole grant when a rotated-away refresh token comes back: this refresh works only if every rotation was stored.
    const refreshed = (await credentialOf(`/v1/refresh/${f.connectionId}`, "POST")).credentials;
    assert.notEqual(refreshed.access_token, ownToken);
    assert.deepEqual(await userinfo(f.idp, refreshed.access_token!), { sub: "test-user", email: "test-user@example.test", email_verified: true, name: "Test test-user" });
  });
});
