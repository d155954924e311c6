/**
 * Two Brokers over one database, each with its own refresh loop, against the
 * real test IdP (oidc-provider) with 5 s access tokens, refresh-token rotation
 * and reuse detection. A refresh token presented twice would make the IdP
 * revoke the whole grant, so "every refresh token was presented at most once"
 * is checked directly on the wire (both Brokers' token requests are recorded)
 * and indirectly (no invalid_grant, every connection still active and usable).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sealedFields } from "../../src/broker/domain/sealed-fields.ts";
import { createKeyRing } from "../../src/broker/vault/key-ring.ts";
import { createVault, type Vault } from "../../src/broker/vault/vault.ts";
import { type RunningService, startBroker } from "../../src/runtime/node/start-broker.ts";
import { brokerRestAt, type JsonReply } from "../support/broker-api.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";
import { type TokenExchange, type TokenTraffic, tokenTrafficFetch } from "../support/token-traffic.ts";
import { sleep, until } from "../support/until.ts";

type Reply = JsonReply;

describe("two Broker replicas share the background refresh of rotating refresh tokens", () => {
  let idp: TestIdp;
  let db: TestDatabase;
  const brokers: { name: string; service: RunningService; traffic: TokenTraffic; logs: string[] }[] = [];
  const apiKey = `admin-${randomBytes(18).toString("base64url")}`;
  const ids: string[] = [];
  let vault: Vault;

  const rest = (service: RunningService, method: string, path: string, body?: unknown): Promise<Reply> => brokerRestAt(service.url, apiKey, method, path, body);

  const accessToken = (r: Reply) => (r.body.credentials as Record<string, string> | undefined)?.access_token;
  const allExchanges = (): TokenExchange[] => brokers.flatMap((b) => b.traffic.exchanges);
  /** Refreshes a Broker stored, by trigger, from its "token refreshed" log lines. */
  const refreshedBy = (broker: { logs: string[] }, trigger: string) =>
    broker.logs.map((l) => JSON.parse(l) as { msg: string; trigger?: string }).filter((l) => l.msg === "token refreshed" && l.trigger === trigger).length;
  const versions = async () =>
    new Map((await db.sql<{ connectionId: string; version: bigint }[]>`select connection_id, version from credentials`).map((r) => [r.connectionId, r.version]));

  /** Every refresh token presented at most once across both Brokers, and each one was issued by the IdP. */
  function assertNoRefreshTokenReuse(): number {
    const issued = new Set(allExchanges().map((e) => e.body?.refresh_token).filter((t): t is string => typeof t === "string"));
    const presented = new Map<string, number>();
    for (const e of allExchanges()) {
      if (e.grantType !== "refresh_token") continue;
      assert.ok(e.refreshToken !== undefined && e.refreshToken !== "", "a refresh request without a refresh_token parameter");
      presented.set(e.refreshToken, (presented.get(e.refreshToken) ?? 0) + 1);
    }
    const reused = [...presented].filter(([, n]) => n > 1);
    assert.deepEqual(reused.map(([t, n]) => `${t.slice(0, 6)}… presented ${n} times`), [], "a refresh token was presented more than once");
    for (const token of presented.keys()) assert.ok(issued.has(token), "every presented refresh token was one the IdP issued");
    return presented.size;
  }

  const auditedRefreshes = async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from audit_events where event_type = 'token.refreshed'`)[0]!.n;

  /**
   * No token lost: each successful refresh answer was stored exactly once (one
   * credential version per answer) and audited once. The loops keep running,
   * so a refresh may be between its answer and its write: wait for a moment
   * when the counts agree. A lost token would keep them apart for good.
   */
  async function assertEverySuccessStored(): Promise<number> {
    let last = { successes: 0, steps: 0n, audited: 0 };
    const settled = await until("a moment when answers, versions and audit events agree", async () => {
      const successes = allExchanges().filter((e) => e.grantType === "refresh_token" && e.status === 200).length;
      let steps = 0n;
      for (const v of (await versions()).values()) steps += v - 1n;
      const audited = await auditedRefreshes();
      last = { successes, steps, audited };
      return BigInt(successes) === steps && audited === successes ? successes : undefined;
    }, 10_000, 20).catch(() => undefined);
    assert.equal(BigInt(last.successes), last.steps, "successful refresh answers = credential versions written");
    assert.equal(last.audited, last.successes, "one token.refreshed audit event per stored refresh");
    return settled!;
  }

  before(async () => {
    idp = await startTestIdp({ clients: [{ client_id: "nexus", client_secret: "s", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }], accessTokenTtl: 5 });
    db = await createTestDatabase();
    const env = {
      DATABASE_URL: db.url, ENCRYPTION_KEY: randomBytes(32).toString("base64"), STATE_KEY: randomBytes(32).toString("base64"),
      API_KEY: apiKey, BASE_URL: "http://127.0.0.1:1", ALLOWED_RETURN_DOMAINS: "app.example.com", ALLOW_HTTP_LOOPBACK_PROVIDERS: "true", REFRESH_MIN_INTERVAL_SECONDS: "1",
      LOG_LEVEL: "info",
    };
    vault = createVault(createKeyRing(new Map([["primary", new Uint8Array(Buffer.from(env.ENCRYPTION_KEY, "base64"))]]), "primary"));
    for (const name of ["A", "B"]) {
      const traffic = tokenTrafficFetch();
      const logs: string[] = [];
      const service = await startBroker(env, { port: 0, fetch: traffic.fetch, logWrite: (l) => void logs.push(l) });
      brokers.push({ name, service, traffic, logs });
    }
    const registered = await rest(brokers[0]!.service, "POST", "/providers", {
      profile: { name: "idp", auth_type: "oauth2", client_id: "nexus", client_secret: "s", issuer: idp.issuer, enable_discovery: true, scopes: ["openid"] },
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
  });
  after(async () => {
    for (const b of brokers) await b.service.close();
    await db?.close();
    await idp?.close();
  });

  it("refreshes 4 connections for 20 s from both loops, with 50 concurrent GetTokens mixed in: no refresh token presented twice, none lost", async (t) => {
    for (let i = 0; i < 4; i++) {
      // Started on one Broker, the browser comes back to the other: they share everything through the database.
      const starter = brokers[i % 2]!.service;
      const receiver = brokers[(i + 1) % 2]!.service;
      const started = await rest(starter, "POST", "/connections", { workspace_id: `ws-${i}`, provider_name: "idp", return_url: "https://app.example.com/" });
      assert.equal(started.status, 200, JSON.stringify(started.body));
      const back = await idp.authorize(started.body.auth_url as string);
      const cb = await fetch(`${receiver.url}/auth/callback${back.search}`, { redirect: "manual" });
      assert.equal(cb.status, 303);
      assert.equal(new URL(cb.headers.get("location")!).searchParams.get("status"), "success");
      ids.push(started.body.connection_id as string);
    }
    const t0 = Date.now();
    assert.deepEqual([...(await versions()).values()], [1n, 1n, 1n, 1n]);

    // Phase 1: background only. Tokens live 5 s and are due a third early, so each needs a refresh every ~3.3 s.
    await sleep(10_000);
    const phase1 = await versions();
    for (const id of ids) assert.ok(phase1.get(id)! >= 3n, `connection ${id} was refreshed at least twice in 10 s by the loops (version ${phase1.get(id)})`);
    // Phase 2: on-demand reads on both Brokers at once, while both loops keep going. A 5 s token always counts as
    // expired for GetToken (30 s margin), so each read refreshes, and both Brokers race for the same connection.
    const pending: Promise<Reply>[] = [];
    for (let wave = 0; wave < 5; wave++) {
      for (let i = 0; i < 10; i++) pending.push(rest(brokers[i % 2]!.service, "GET", `/connections/${ids[(Math.floor(i / 2) + wave) % 4]}/token`));
      await sleep(300);
    }
    const reads = await Promise.all(pending);
    assertNoRefreshTokenReuse();
    assert.deepEqual(reads.map((r) => r.status), Array(50).fill(200), JSON.stringify(reads.find((r) => r.status !== 200)?.body));
    assert.ok(reads.every((r) => typeof accessToken(r) === "string" && accessToken(r) !== ""));

    // Phase 3: the loops run on to 20 s.
    await sleep(Math.max(0, 20_000 - (Date.now() - t0)));

    const refreshes = allExchanges().filter((e) => e.grantType === "refresh_token");
    const refused = refreshes.filter((e) => e.status !== 200 && e.status !== 0); // 0: answer still on its way
    assert.deepEqual(refused.map((e) => `${e.status} ${JSON.stringify(e.body)}`), [], "the IdP refused no refresh (no invalid_grant)");
    const distinct = assertNoRefreshTokenReuse();
    assert.equal(distinct, refreshes.length);
    const perBroker = brokers.map((b) => b.traffic.refreshes().length);
    assert.ok(perBroker.every((n) => n > 0), `both Brokers refreshed (A ${perBroker[0]}, B ${perBroker[1]})`);
    // The loops share the work: each Broker's loop did some of the background refreshes.
    const background = brokers.map((b) => refreshedBy(b, "background"));
    assert.ok(background.every((n) => n > 0), `both Brokers' loops refreshed in the background (A ${background[0]}, B ${background[1]})`);
    // 4 connections × ~6 background cycles in 20 s, plus the on-demand ones.
    assert.ok(refreshes.length >= 16, `${refreshes.length} refreshes in 20 s`);
    await assertEverySuccessStored();
    t.diagnostic(`refreshes: A ${perBroker[0]}, B ${perBroker[1]}; by the loops: A ${background[0]}, B ${background[1]}`);
    const failures = await db.sql<{ eventType: string; reason: string }[]>`
      select event_type, reason from audit_events where event_type in ('token.refresh_failed', 'connection.attention_required')`;
    assert.deepEqual([...failures], [], "no refresh failed and no connection needs attention");
    const statuses = await db.sql<{ status: string }[]>`select status from connections order by created_at`;
    assert.deepEqual(statuses.map((s) => s.status), ["active", "active", "active", "active"]);
    const leases = await db.sql`select 1 from credentials where lease_owner is not null and lease_until < now()`;
    assert.equal(leases.length, 0, "no lease left behind");
  });

  it("after the run, every connection's token works at userinfo and a forced refresh through each Broker succeeds", async () => {
    assert.equal(ids.length, 4, "the previous scenario connected 4 connections");
    for (const id of ids) {
      // The token the loops stored last (GetToken below would refresh a 5 s token on demand first).
      const [row] = await db.sql<{ secretCt: string }[]>`select secret_ct from credentials where connection_id = ${id}`;
      const stored = (JSON.parse(vault.openText(row!.secretCt, { ...sealedFields.credentialSecret, rowId: id })) as { access_token: string }).access_token;
      const storedMe = await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${stored}` } });
      assert.equal(storedMe.status, 200, `userinfo accepts the stored token of ${id}`);
      const token = await rest(brokers[0]!.service, "GET", `/connections/${id}/token`);
      assert.equal(token.status, 200, JSON.stringify(token.body));
      const me = await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${accessToken(token)}` } });
      assert.equal(me.status, 200, `userinfo accepts the current token of ${id}`);
      assert.equal(((await me.json()) as { sub: string }).sub, "test-user");
      let previous = accessToken(token);
      for (const b of brokers) {
        const forced = await rest(b.service, "POST", `/connections/${id}/refresh`);
        assert.equal(forced.status, 200, `forced refresh through ${b.name}: ${JSON.stringify(forced.body)}`);
        assert.notEqual(accessToken(forced), previous, "a new access token");
        previous = accessToken(forced);
        const again = await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${previous}` } });
        assert.equal(again.status, 200);
      }
    }
    assertNoRefreshTokenReuse();
    await assertEverySuccessStored();
    assert.ok(allExchanges().every((e) => e.grantType !== "refresh_token" || e.status === 200 || e.status === 0), "still no refusal");
    const statuses = await db.sql<{ status: string }[]>`select status from connections`;
    assert.ok(statuses.every((s) => s.status === "active"));
  });
});
