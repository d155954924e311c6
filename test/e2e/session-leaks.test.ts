/**
 * No session token leaks (issue 17). With both services at LOG_LEVEL=debug,
 * sessions are created, read, delegated, exchanged (narrowed and not),
 * refused in every way, and revoked, over REST, Connect and gRPC; tokens are
 * even sent in the wrong fields. Then no session token (nor its signature),
 * no provider token an exchange handed out and no agent key appears in a log
 * line of either service, an error any caller saw, the metrics of either
 * service or an audit row, while every session's id does appear in the audit
 * details.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { brokerRest, recordingFetch } from "../support/broker-api.ts";
import {
  agentClients, jwtTokenType, protocols, restExchange, SessionCallError, sessionClients, type SessionStack, startSessionStack, tokenExchangeGrant,
} from "../support/sessions.ts";

describe("session tokens stay out of logs, errors, metrics and audit rows", () => {
  let f: SessionStack;
  const recorder = recordingFetch();
  /** Every session token issued, every session id, every provider token handed out, every error text seen. */
  const issued: string[] = [];
  const ids: string[] = [];
  const handedOut: string[] = [];
  const errors: string[] = [];

  /** Runs `p`; a refusal's text goes to `errors`. */
  async function attempt<T>(p: Promise<T>): Promise<T | undefined> {
    try {
      return await p;
    } catch (error) {
      if (!(error instanceof SessionCallError)) throw error;
      errors.push(error.message);
      return undefined;
    }
  }

  before(async () => {
    f = await startSessionStack({ fetch: recorder.fetch, idp: { accessTokenTtl: 600 } });
    for (const protocol of protocols) {
      const [a, b, c] = agentClients(f, protocol);
      try {
        const sb = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid", "profile"], ttl_seconds: 300 });
        const sc = await b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, scopes: ["openid"], parent_session_id: sb.session_id });
        const full = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, ttl_seconds: 60 });
        issued.push(sb.session_token, sc.session_token, full.session_token);
        ids.push(sb.session_id, sc.session_id, full.session_id);
        for (const [client, token] of [[b, sb.session_token], [c, sc.session_token], [c, full.session_token]] as const) {
          const x = await client.exchange({ subject_token: token });
          handedOut.push(x.access_token);
        }
        await b.getSession(sb.session_id);
        // Refusals of every kind, some with a token where it does not belong.
        await attempt(b.exchange({ subject_token: sb.session_token, scope: "openid email" }));
        await attempt(a.exchange({ subject_token: sb.session_token }));
        await attempt(b.exchange({ subject_token: `${sb.session_token}x` }));
        await attempt(b.exchange({ subject_token: sb.session_token, resource: "other" }));
        await attempt(b.exchange({ subject_token: sb.session_token, scope: sb.session_token }));
        await attempt(b.exchange({ subject_token: sb.session_token, resource: sb.session_token }));
        await attempt(b.exchange({ subject_token: sb.session_token, client_id: sb.session_token }));
        await attempt(b.exchange({ subject_token: sb.session_token, subject_token_type: sb.session_token }));
        await attempt(b.exchange({ subject_token: sb.session_token, requested_token_type: sb.session_token }));
        await attempt(b.exchange({ subject_token: sb.session_token, grant_type: sb.session_token }));
        await attempt(b.exchange({ subject_token: sb.session_token, actor_token: sc.session_token }));
        await attempt(b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, scopes: [sb.session_token] }));
        await attempt(b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, allowed_hosts: [sb.session_token] }));
        await attempt(b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, parent_session_id: sb.session_token }));
        // Over REST a session id goes in the URL path, which the request log records like any URL; the RPCs carry it in the body.
        if (protocol !== "REST") await attempt(b.getSession(sb.session_token));
        // A session token presented as the agent's own credential.
        await attempt(sessionClients[protocol](f.gatewayUrl, sb.session_token).exchange({ subject_token: sb.session_token }));
        await a.revokeSession(sb.session_id);
        await attempt(c.exchange({ subject_token: sc.session_token }));
      } finally {
        for (const client of [a, b, c]) client.close();
      }
    }
    // REST's RFC 6749 bodies, read as they are.
    const raw = await restExchange(f.gatewayUrl, { grant_type: tokenExchangeGrant, subject_token_type: jwtTokenType, subject_token: issued[0]!, scope: issued[0]! }, { authorization: `Bearer ${f.agents.B.apiKey}` });
    errors.push(JSON.stringify(raw.body));
  });
  after(() => f?.close());

  /** The needles: each secret whole, and each session token's signature (the part that makes it one). */
  const needles = () => [
    ...issued.flatMap((t, i) => [[`session token ${i}`, t], [`session token ${i}'s signature`, t.split(".")[2]!]]),
    ...handedOut.map((t, i) => [`provider token ${i} handed out`, t]),
    ...recorder.tokenResponses.flatMap((r, i) => {
      const body = JSON.parse(r) as { access_token?: string; refresh_token?: string };
      return [[`IdP access token ${i}`, body.access_token], [`IdP refresh token ${i}`, body.refresh_token]].filter(([, v]) => v !== undefined);
    }),
    ...Object.entries(f.agents).map(([n, a]) => [`agent ${n}'s API key`, a.apiKey]),
  ] as [string, string][];

  function assertAbsent(where: string, text: string): void {
    assert.ok(text.length > 0, `${where} is empty: nothing was checked`);
    for (const [what, needle] of needles()) assert.ok(!text.includes(needle), `${what} appears in ${where}`);
  }

  it("issued and exercised enough to look for", () => {
    assert.equal(issued.length, 9);
    assert.equal(handedOut.length, 9);
    assert.ok(errors.length >= 50, `${errors.length} errors seen`);
    assert.ok(recorder.tokenResponses.length >= 2, "the IdP answered the code exchange and at least one narrowing refresh");
  });

  it("writes none to either service's log, at debug level", () => {
    const logs = f.stack.logs.join("\n");
    assert.ok(f.stack.logs.some((l) => l.includes('"service":"broker"')) && f.stack.logs.some((l) => l.includes('"service":"gateway"')), "both services logged");
    assert.ok(f.stack.logs.some((l) => l.includes('"level":"debug"')), "debug lines were written");
    assertAbsent("the logs", logs);
  });

  it("echoes none in an error", () => {
    for (const e of errors) assertAbsent(`the error "${e.slice(0, 200)}"`, e);
  });

  it("exposes none in either service's metrics", async () => {
    const gateway = await (await fetch(`${f.gatewayUrl}/metrics`)).text();
    const broker = await (await fetch(`${f.stack.broker.url}/metrics`, { headers: { "x-api-key": f.stack.adminKey } })).text();
    // Counted by event and outcome, with no id in a label.
    const count = (event: string, outcome: string) => Number(new RegExp(`nexus_session_events_total\\{event="${event}",outcome="${outcome}"\\} (\\d+)`).exec(broker)?.[1]);
    assert.deepEqual(
      { created: count("created", "success"), exchanged: count("exchanged", "success"), revoked: count("revoked", "success") },
      { created: 9, exchanged: 9, revoked: 3 },
    );
    // Malformed creates (a token pasted into scopes, hosts or the parent id) are refused by the input rules
    // before any session logic, so they count as refused RPCs, not as session events.
    const malformedCreates = Number(/grpc_server_handled_total\{grpc_type="unary",grpc_service="nexus\.gateway\.v1\.GatewayService",grpc_method="CreateSession",grpc_code="InvalidArgument"\} (\d+)/.exec(gateway)?.[1]);
    assert.ok(count("exchanged", "refused") >= 30 && malformedCreates >= 3, `refusals counted: ${JSON.stringify({ exchanged: count("exchanged", "refused"), malformedCreates })}`);
    assertAbsent("the Gateway's metrics", gateway);
    assertAbsent("the Broker's metrics", broker);
    for (const id of ids) assert.ok(!broker.includes(id) && !gateway.includes(id), `session id ${id} in a metric label`);
  });

  it("stores none in an audit row, and names every session by its id", async () => {
    const rows = await f.stack.db.sql`select * from audit_events order by id`;
    const text = JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? String(v) : v));
    assertAbsent("the audit rows", text);
    for (const id of ids) {
      assert.ok(rows.some((r) => (r.details as Record<string, unknown>).session_id === id), `session ${id} named in audit details`);
    }
    const events = new Set(rows.map((r) => r.eventType as string));
    for (const e of ["session.created", "session.exchanged", "session.exchange_refused", "session.revoked"]) assert.ok(events.has(e), `${e} audited`);
    // Each names the workspace, the acting agent and the chain; a refusal its reason.
    const child = rows.find((r) => r.eventType === "session.created" && (r.details as Record<string, unknown>).session_id === ids[1])!;
    assert.deepEqual(
      { caller: child.caller, workspace: child.details.workspace_id, chain: child.details.chain, parent: child.details.parent_session_id },
      { caller: `agent:${f.agents.B.id}`, workspace: "ws-user", chain: `${f.agents.C.id},${f.agents.B.id},${f.agents.A.id}`, parent: ids[0] },
    );
    const refusals = rows.filter((r) => r.eventType === "session.exchange_refused");
    assert.ok(refusals.every((r) => r.outcome === "failure" && r.reason !== ""), "every refusal carries its reason");
    assert.ok(refusals.some((r) => r.reason === "invalid_scope" && r.details.session_id === ids[0] && r.details.workspace_id === "ws-user"));
    // Through the audit API too, as an operator reads it.
    const api = await brokerRest(f.stack, "GET", `/audit?agent_id=${f.agents.B.id}`);
    assert.equal(api.status, 200);
    assertAbsent("the audit API", JSON.stringify(api.body));
  });
});
