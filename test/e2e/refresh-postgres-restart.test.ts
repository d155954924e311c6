/**
 * PostgreSQL goes away under a running Broker and comes back on the same port
 * and data directory. The Broker must ride it out without a restart: not
 * ready (and failing calls) while the database is gone, serving again once
 * it is back, and its background refresh loop resuming by itself, woken by
 * NOTIFY as before.
 *
 * This file runs its own PostgreSQL: restarting the suite's shared one would
 * break the test files running next to it.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createSql, type Sql } from "../../src/broker/db/sql.ts";
import { type EmbeddedPostgresOptions, type RunningPostgres, startEmbeddedPostgres } from "../../src/runtime/node/embedded-postgres.ts";
import { type RunningService, startBroker } from "../../src/runtime/node/start-broker.ts";
import { brokerRestAt, type JsonReply } from "../support/broker-api.ts";
import { freePort } from "../support/free-port.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";
import { sleep, until } from "../support/until.ts";

type Reply = JsonReply;

describe("a PostgreSQL restart under a running Broker", () => {
  let workDir: string;
  let pgOptions: EmbeddedPostgresOptions;
  let pg: RunningPostgres | undefined;
  let sql: Sql;
  let idp: TestIdp;
  let broker: RunningService;
  const logs: string[] = [];
  let restartedAt: number | undefined;
  const apiKey = `admin-${randomBytes(18).toString("base64url")}`;

  const rest = (method: string, path: string): Promise<Reply> => brokerRestAt(broker.url, apiKey, method, path);
  const version = async (id: string) => (await sql<{ version: bigint }[]>`select version from credentials where connection_id = ${id}`)[0]!.version;
  const healthz = async () => (await fetch(`${broker.url}/healthz`)).status;
  const accessToken = (r: Reply) => (r.body.credentials as Record<string, string>).access_token;

  /** Makes the credential due in an hour: no NOTIFY (it is not due soon), and the loop's next nap is its longest, 30 s. */
  async function park(id: string): Promise<number> {
    await sql`update credentials set refresh_due_at = now() + interval '1 hour' where connection_id = ${id}`;
    return Date.now();
  }

  /**
   * Once the loop has slept past the old due time (under 3.4 s after parking)
   * it sleeps 30 s. Then makes the credential due now with an UPDATE, whose
   * trigger NOTIFYs, and tells whether the loop refreshed within 10 s: woken,
   * rather than sleeping out its 30 s.
   */
  async function wokenByNotify(id: string, parkedAt: number): Promise<boolean> {
    await sleep(Math.max(0, parkedAt + 4500 - Date.now()));
    const parked = await version(id);
    await sql`update credentials set refresh_due_at = now() where connection_id = ${id}`;
    return until("the NOTIFY-woken refresh", async () => ((await version(id)) > parked ? true : undefined), 10_000).then(() => true, () => false);
  }

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "nexus-pg-restart-"));
    pgOptions = { dataDir: join(workDir, "data"), port: await freePort(), persistent: true, fast: true, onLog: (l) => void logs.push(`pg ${l}`) };
    pg = await startEmbeddedPostgres(pgOptions);
    await pg.ensureDatabase("nexus");
    sql = createSql(pg.url("nexus"), { max: 2 });
    idp = await startTestIdp({ clients: [{ client_id: "nexus", client_secret: "s", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }], accessTokenTtl: 5 });
    broker = await startBroker({
      DATABASE_URL: pg.url("nexus"), ENCRYPTION_KEY: randomBytes(32).toString("base64"), STATE_KEY: randomBytes(32).toString("base64"),
      API_KEY: apiKey, BASE_URL: "http://127.0.0.1:1", ALLOWED_RETURN_DOMAINS: "app.example.com", ALLOW_HTTP_LOOPBACK_PROVIDERS: "true", REFRESH_MIN_INTERVAL_SECONDS: "1",
      LOG_LEVEL: "info",
    }, { port: 0, fetch: globalThis.fetch, logWrite: (l) => void logs.push(l) });
  });
  after(async () => {
    await broker?.close().catch(() => {});
    await sql?.end({ timeout: 1 }).catch(() => {});
    await pg?.stop().catch(() => {});
    await idp?.close();
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
  });

  it("serves 503 while PostgreSQL is down, recovers without a restart, and the refresh loop resumes", async (t) => {
    const registered = await fetch(`${broker.url}/providers`, {
      method: "POST",
      headers: { "x-api-key": apiKey, "content-type": "application/json" },
      body: JSON.stringify({ profile: { name: "idp", auth_type: "oauth2", client_id: "nexus", client_secret: "s", issuer: idp.issuer, enable_discovery: true, scopes: ["openid"] } }),
    });
    assert.equal(registered.status, 201, await registered.text());
    const startedRes = await fetch(`${broker.url}/connections`, {
      method: "POST",
      headers: { "x-api-key": apiKey, "content-type": "application/json" },
      body: JSON.stringify({ workspace_id: "ws-pg", provider_name: "idp", return_url: "https://app.example.com/" }),
    });
    const started = (await startedRes.json()) as { connection_id: string; auth_url: string };
    const back = await idp.authorize(started.auth_url);
    assert.equal((await fetch(`${broker.url}/auth/callback${back.search}`, { redirect: "manual" })).status, 303);
    const id = started.connection_id;

    // The loop at work, and woken by NOTIFY, before the outage (the control for the same check after it).
    await until("a first background refresh", async () => ((await version(id)) > 1n ? true : undefined));
    assert.equal(await wokenByNotify(id, await park(id)), true, "before the outage, an UPDATE's NOTIFY wakes the loop");

    // Stop PostgreSQL right after that refresh, so none is in flight: the next is ~3 s away.
    const atStop = await version(id);
    await pg!.stop();
    pg = undefined;
    const stoppedAt = Date.now();

    await until("/healthz to say NOT_SERVING", async () => ((await healthz()) === 503 ? true : undefined), 15_000);
    assert.deepEqual((await (await fetch(`${broker.url}/healthz`)).json()), { status: "NOT_SERVING" });
    const down = await rest("GET", `/connections/${id}/token`);
    // A database out of reach is worth a retry: unavailable (503), not an internal fault.
    assert.equal(down.status, 503, `GetToken while the database is down: ${JSON.stringify(down.body)}`);
    assert.equal(down.body.code, "unavailable");
    assert.match(down.body.message as string, /^unavailable: the database is not reachable/);
    t.diagnostic(`GetToken while PostgreSQL is down: ${down.status} ${down.body.code as string}`);
    assert.doesNotMatch(JSON.stringify(down.body), /ECONNREFUSED|127\.0\.0\.1|postgres/i, "no database details reach callers");
    // Past the next due time (~3 s away), so the loop meets the outage, and the token expires meanwhile.
    await until("the loop to meet the outage", async () =>
      (logs.some((l) => l.includes('"msg":"refresh loop cannot reach the database; retrying"')) ? true : undefined), 20_000);
    await sleep(Math.max(0, stoppedAt + 6000 - Date.now()));
    const metrics = await fetch(`${broker.url}/metrics`);
    assert.equal(metrics.status, 200, "the process is alive and serving what needs no database");
    await metrics.text();
    assert.equal(await healthz(), 503);

    pg = await startEmbeddedPostgres(pgOptions);
    restartedAt = Date.now();
    await until("/healthz to say SERVING again", async () => ((await healthz()) === 200 ? true : undefined), 30_000);
    t.diagnostic(`SERVING ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after PostgreSQL was back`);
    // No GetToken before this: only the loop can move the version.
    await until("a background refresh after the restart", async () => ((await version(id)) > atStop ? true : undefined), 30_000);
    t.diagnostic(`first background refresh ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after PostgreSQL was back`);
    const refreshed = await until("its audit event", async () => {
      const rows = await sql<{ details: { trigger: string } }[]>`select details from audit_events
        where connection_id = ${id} and event_type = 'token.refreshed' order by id desc limit 1`;
      return rows[0]?.details.trigger === "background" ? rows[0] : undefined;
    }, 5000);
    assert.equal(refreshed.details.trigger, "background");

    const token = await rest("GET", `/connections/${id}/token`);
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.equal((await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${accessToken(token)}` } })).status, 200, "the token works at userinfo");
    assert.equal((await rest("GET", `/connections/${id}`)).body.status, "active");
  });

  it("after the restart the loop listens again and is woken by NOTIFY, not only by its 30 s timer", async (t) => {
    const [row] = await sql<{ connectionId: string }[]>`select connection_id from credentials`;
    assert.ok(row !== undefined && restartedAt !== undefined, "the previous scenario connected and restarted PostgreSQL");
    const parkedAt = await park(row.connectionId);
    // postgres.js re-issues LISTEN on its own reconnect schedule (backoff capped at 20 s), then the loop is woken by its onlisten.
    // All channels share one connection, whose last statement is whichever LISTEN went last.
    await until("the Broker's LISTEN to be back", async () => {
      const [listening] = await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
        where application_name = 'nexus-broker' and query ilike 'listen%'`;
      return listening!.n === 1 ? true : undefined;
    }, 30_000, 200);
    t.diagnostic(`LISTEN back ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after PostgreSQL`);
    assert.equal(await wokenByNotify(row.connectionId, parkedAt), true, "an UPDATE's NOTIFY woke the loop within 10 s");
  });
});
