/**
 * The Broker's token cache, with two Brokers over one real PostgreSQL: a
 * repeated GetToken is answered without the database, and whatever changes
 * the answer on one Broker (revocation, a refresh, a write straight into the
 * database, a provider change) reaches the other at once through LISTEN/NOTIFY.
 * A Broker whose notification connection is killed empties its cache and
 * answers from the database until it listens again.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type RunningService, startBroker } from "../../src/runtime/node/start-broker.ts";
import { brokerRestAt, type JsonReply } from "../support/broker-api.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";
import { until } from "../support/until.ts";

type Reply = JsonReply;

describe("the token cache across two Brokers", () => {
  let idp: TestIdp;
  let db: TestDatabase;
  let a: RunningService;
  let b: RunningService;
  const logs: string[] = [];
  const apiKey = `admin-${randomBytes(18).toString("base64url")}`;

  const rest = (service: RunningService, method: string, path: string, body?: unknown): Promise<Reply> => brokerRestAt(service.url, apiKey, method, path, body);

  const token = (service: RunningService, id: string) => rest(service, "GET", `/connections/${id}/token`);
  const value = (r: Reply, field: string) => (r.body.credentials as Record<string, string> | undefined)?.[field];

  /** How often `service` read a credential row, and its cache lookups by result, from its /metrics. */
  async function counters(service: RunningService): Promise<{ reads: number; hit: number; miss: number; untrusted: number }> {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    const n = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    return {
      reads: n(/nexus_db_operation_duration_seconds_count\{repo="connections",method="readForToken"\} (\d+)/),
      hit: n(/nexus_token_cache_lookups_total\{result="hit"\} (\d+)/),
      miss: n(/nexus_token_cache_lookups_total\{result="miss"\} (\d+)/),
      untrusted: n(/nexus_token_cache_lookups_total\{result="untrusted"\} (\d+)/),
    };
  }

  async function staticConnection(workspace: string, key: string): Promise<string> {
    const started = await rest(a, "POST", "/connections", { workspace_id: workspace, provider_name: "keys", return_url: "https://app.example.com/" });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const captured = await rest(a, "POST", "/capture-credential", { state: started.body.state, credentials: { api_key: key } });
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    return started.body.connection_id as string;
  }

  before(async () => {
    idp = await startTestIdp({ clients: [{ client_id: "nexus", client_secret: "s", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }], accessTokenTtl: 3600 });
    db = await createTestDatabase();
    const env = {
      DATABASE_URL: db.url, ENCRYPTION_KEY: randomBytes(32).toString("base64"), STATE_KEY: randomBytes(32).toString("base64"),
      API_KEY: apiKey, BASE_URL: "http://127.0.0.1:1", ALLOWED_RETURN_DOMAINS: "app.example.com", ALLOW_HTTP_LOOPBACK_PROVIDERS: "true", REFRESH_MIN_INTERVAL_SECONDS: "1",
      LOG_LEVEL: "debug", TOKEN_CACHE_SECONDS: "60",
    };
    a = await startBroker(env, { port: 0, logWrite: (l) => void logs.push(l) });
    b = await startBroker(env, { port: 0, logWrite: (l) => void logs.push(l) });
    const keys = await rest(a, "POST", "/providers", {
      profile: {
        name: "keys", auth_type: "api_key",
        params: { credential_schema: { type: "object", required: ["api_key"], properties: { api_key: { type: "string" } } } },
      },
    });
    assert.equal(keys.status, 201, JSON.stringify(keys.body));
    const oauth = await rest(a, "POST", "/providers", {
      profile: { name: "idp", auth_type: "oauth2", client_id: "nexus", client_secret: "s", issuer: idp.issuer, enable_discovery: true, scopes: ["openid"] },
    });
    assert.equal(oauth.status, 201, JSON.stringify(oauth.body));
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.close();
    await idp?.close();
  });

  it("answers a repeated GetToken from memory: no credential read, the same answer", async () => {
    const id = await staticConnection("ws-repeat", "sk_repeat_1");
    const first = await token(b, id);
    assert.equal(value(first, "api_key"), "sk_repeat_1");
    const before = await counters(b);
    for (let i = 0; i < 20; i++) assert.deepEqual((await token(b, id)).body, first.body);
    const later = await counters(b);
    assert.equal(later.reads, before.reads, "no credential row was read");
    assert.equal(later.hit - before.hit, 20);
    // Every read is still audited, cached or not: coalesced events whose counts add up to the reads.
    await until("the audit rows", async () => {
      const [row] = await db.sql<{ n: number; events: number }[]>`select coalesce(sum((details->>'count')::int), 0)::int as n, count(*)::int as events
        from audit_events where event_type = 'token.read' and connection_id = ${id}`;
      return row!.n === 21 ? row : undefined;
    }, 5000, 50);
  });

  it("a revocation on one Broker ends the other's cached answer at once", async () => {
    const id = await staticConnection("ws-revoke", "sk_revoke_1");
    assert.equal((await token(b, id)).status, 200);
    assert.equal((await token(b, id)).status, 200);
    assert.equal((await rest(a, "DELETE", `/connections/${id}`)).status, 200);
    // The notification crosses a second connection, so allow it the moment it needs, and no more.
    const t0 = performance.now();
    const revoked = await until("B to answer connection_revoked", async () => {
      const r = await token(b, id);
      return r.status !== 200 ? r : undefined;
    }, 1000, 2);
    assert.match(String(revoked.body.message), /^connection_revoked: /);
    assert.ok(performance.now() - t0 < 1000);
    assert.equal((await token(a, id)).status, revoked.status, "the revoking Broker answers the same at once");
  });

  it("the revoking Broker itself never answers from its cache after the revocation returns", async () => {
    for (let i = 0; i < 10; i++) {
      const id = await staticConnection(`ws-own-${i}`, `sk_own_${i}`);
      assert.equal((await token(a, id)).status, 200);
      assert.equal((await rest(a, "DELETE", `/connections/${id}`)).status, 200);
      assert.notEqual((await token(a, id)).status, 200, "read-your-writes on the same Broker");
    }
  });

  it("a refresh on one Broker gives the other the new access token", async () => {
    const started = await rest(a, "POST", "/connections", { workspace_id: "ws-oauth", provider_name: "idp", return_url: "https://app.example.com/" });
    const back = await idp.authorize(started.body.auth_url as string);
    const cb = await fetch(`${a.url}/auth/callback${back.search}`, { redirect: "manual" });
    assert.equal(cb.status, 303);
    const id = started.body.connection_id as string;
    const old = value(await token(b, id), "access_token");
    assert.equal(value(await token(b, id), "access_token"), old, "cached");
    const refreshed = await rest(a, "POST", `/connections/${id}/refresh`);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const fresh = value(refreshed, "access_token");
    assert.notEqual(fresh, old);
    await until("B to answer the new token", async () => (value(await token(b, id), "access_token") === fresh ? true : undefined), 1000, 2);
  });

  it("a write straight into the database (another tool, a rewrap) reaches both caches", async () => {
    const id = await staticConnection("ws-direct", "sk_direct_1");
    assert.equal((await token(a, id)).status, 200);
    assert.equal((await token(b, id)).status, 200);
    await db.sql`update connections set status = 'attention_required', status_reason = 'grant_revoked' where id = ${id}`;
    for (const service of [a, b]) {
      await until("the cached answer to go", async () => ((await token(service, id)).status !== 200 ? true : undefined), 1000, 2);
    }
  });

  it("a provider change empties every cache", async () => {
    const id = await staticConnection("ws-provider", "sk_provider_1");
    assert.equal((await token(b, id)).status, 200);
    const reads = (await counters(b)).reads;
    await db.sql`update providers set description = description || ' ' where name = 'keys'`;
    await until("B to read the credential again", async () => {
      assert.equal((await token(b, id)).status, 200);
      return (await counters(b)).reads > reads ? true : undefined;
    }, 1000, 5);
  });

  it("a Broker whose notification connection dies forgets its cache, answers from the database, then caches again", async () => {
    const id = await staticConnection("ws-listen", "sk_listen_1");
    assert.equal(value(await token(b, id), "api_key"), "sk_listen_1");
    // Kill every LISTEN connection (both Brokers'), then change the credential while they are gone.
    // Each Broker has one LISTEN connection for all its channels; its last statement is one of them.
    const killed = await db.sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen%'`;
    assert.equal(killed.length, 2, "both Brokers' LISTEN connections");
    await db.sql`update connections set status = 'revoked' where id = ${id}`;
    await until("B to stop answering the revoked credential", async () => ((await token(b, id)).status !== 200 ? true : undefined), 5000, 10);
    // Listening again, the cache comes back into use.
    const other = await staticConnection("ws-listen-2", "sk_listen_2");
    await until("a cache hit on B again", async () => {
      const before = (await counters(b)).hit;
      await token(b, other);
      return (await counters(b)).hit > before ? true : undefined;
    }, 10_000, 50);
  });

  it("never writes a credential or a key into its logs", () => {
    const text = logs.join("");
    for (const secret of ["sk_repeat_1", "sk_revoke_1", "sk_direct_1", "sk_listen_1", "sk_listen_2", apiKey]) assert.ok(!text.includes(secret), secret);
  });
});
