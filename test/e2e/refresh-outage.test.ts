/**
 * PostgreSQL stops for 10 s while rotated tokens are on their way back from
 * the provider (oidc-provider, rotating with reuse detection, its answers held
 * back 3 s). The answers arrive while the database is down: the Broker must
 * keep them and write them once it is back, give every lease back, and lose
 * no audit event.
 *
 * This file runs its own PostgreSQL: stopping the suite's shared one would
 * break the files running beside it.
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
import { brokerRestAt } from "../support/broker-api.ts";
import { freePort } from "../support/free-port.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";
import { sleep, until } from "../support/until.ts";

describe("a database outage while provider answers arrive", () => {
  let workDir: string;
  let pgOptions: EmbeddedPostgresOptions;
  let pg: RunningPostgres | undefined;
  let sql: Sql;
  let idp: TestIdp;
  let broker: RunningService;
  const logs: string[] = [];
  const apiKey = `admin-${randomBytes(18).toString("base64url")}`;
  const rest = (method: string, path: string, body?: unknown) => brokerRestAt(broker.url, apiKey, method, path, body);

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "nexus-outage-"));
    pgOptions = { dataDir: join(workDir, "data"), port: await freePort(), persistent: true, fast: true };
    pg = await startEmbeddedPostgres(pgOptions);
    await pg.ensureDatabase("nexus");
    sql = createSql(pg.url("nexus"), { max: 2 });
    idp = await startTestIdp({ clients: [{ client_id: "nexus", client_secret: "s", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }], accessTokenTtl: 6 });
    broker = await startBroker({
      DATABASE_URL: pg.url("nexus"), ENCRYPTION_KEY: randomBytes(32).toString("base64"), STATE_KEY: randomBytes(32).toString("base64"),
      API_KEY: apiKey, BASE_URL: "http://127.0.0.1:1", ALLOWED_RETURN_DOMAINS: "app.example.com", ALLOW_HTTP_LOOPBACK_PROVIDERS: "true",
      REFRESH_MIN_INTERVAL_SECONDS: "1", REFRESH_LEASE_SECONDS: "12", LOG_LEVEL: "info",
    }, { port: 0, logWrite: (l) => void logs.push(l) });
  });
  after(async () => {
    await broker?.close().catch(() => {});
    await sql?.end({ timeout: 1 }).catch(() => {});
    await pg?.stop().catch(() => {});
    await idp?.close();
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
  });

  it("keeps every rotated token through a 10 s outage: written after it, no lease left, no audit event lost", async (t) => {
    const registered = await rest("POST", "/providers", {
      profile: { name: "idp", auth_type: "oauth2", client_id: "nexus", client_secret: "s", issuer: idp.issuer, enable_discovery: true, scopes: ["openid"] },
    });
    assert.equal(registered.status, 201);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const started = await rest("POST", "/connections", { workspace_id: `ws-${i}`, provider_name: "idp", return_url: "https://app.example.com/" });
      const back = await idp.authorize(started.body.auth_url as string);
      assert.equal((await fetch(`${broker.url}/auth/callback${back.search}`, { redirect: "manual" })).status, 303);
      ids.push(started.body.connection_id as string);
    }
    const exchanges = idp.tokenRequests.started;
    idp.setTokenAnswerDelay(3000);
    await until("4 refreshes on the wire", async () => (idp.tokenRequests.started - exchanges >= 4 ? true : undefined), 20_000, 20);

    // The provider has rotated all four; its answers come back in 3 s, into an outage of 10 s.
    await pg!.stop();
    pg = undefined;
    const stoppedAt = Date.now();
    await until("the answers to arrive during the outage", async () => (idp.tokenRequests.answered - exchanges >= 4 ? true : undefined), 10_000, 20);
    idp.setTokenAnswerDelay(0);
    await sleep(Math.max(0, stoppedAt + 10_000 - Date.now()));
    assert.ok(logs.some((l) => l.includes("store the refreshed tokens: the write failed; retrying")), "the failed write is logged at warn");
    pg = await startEmbeddedPostgres(pgOptions);
    t.diagnostic(`PostgreSQL down for ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`);

    const rows = await until("every rotated token to be written", async () => {
      const r = await sql<{ version: bigint; leaseId: string | null; rotationStartedAt: Date | null }[]>`
        select version, lease_id, rotation_started_at from credentials order by connection_id`;
      return r.every((row) => row.version >= 2n) ? r : undefined;
    }, 30_000, 200);
    assert.ok(rows.every((r) => r.leaseId === null && r.rotationStartedAt === null), "no lease or mark left held");

    let kept = 0;
    for (const id of ids) {
      assert.equal((await rest("GET", `/connections/${id}`)).body.status, "active");
      // The stored refresh token is the rotated one: oidc-provider accepts it (an old one would revoke the grant).
      const forced = await rest("POST", `/connections/${id}/refresh`);
      assert.equal(forced.status, 200, JSON.stringify(forced.body));
      const token = (forced.body.credentials as Record<string, string>).access_token;
      assert.equal((await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      kept++;
    }
    t.diagnostic(`grants kept through the outage: ${kept} of 4`);

    // The audit events recorded while the database was down were written afterwards.
    const audit = await until("the audit events of the refreshes written during the outage", async () => {
      const r = await sql<{ connectionId: string }[]>`select connection_id from audit_events
        where event_type = 'token.refreshed' and details->>'trigger' = 'background'`;
      return new Set(r.map((e) => e.connectionId)).size === 4 ? r : undefined;
    }, 15_000);
    assert.ok(audit.length >= 4);
    const metrics = await (await fetch(`${broker.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /nexus_audit_events_dropped_total\{[^}]*\} [1-9]/, "no audit event was dropped");
  });
});
