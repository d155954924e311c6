/**
 * Deploys and crashes with rotations on the wire, against a real OpenID
 * provider that rotates refresh tokens and revokes the whole grant when an old
 * one comes back (oidc-provider), slowed so that its answers arrive seconds
 * after it has rotated:
 *
 * - SIGTERM (every ordinary deploy): the Broker stops claiming, waits for the
 *   answers already on their way, writes them, exits 0; after a restart every
 *   grant still works.
 * - SIGKILL: the answers on the wire are lost. This is the documented loss
 *   (docs/refresh.md): the next Broker tries the stored token once; a strict
 *   provider refuses it and the user sees attention_required with reason
 *   rotation_interrupted, never a bare invalid_grant. A provider with a reuse
 *   interval (the fake provider here, as Okta and Auth0 allow) accepts it and
 *   the grant recovers.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type RunningService, startBroker } from "../../src/runtime/node/start-broker.ts";
import { brokerRestAt, type JsonReply } from "../support/broker-api.ts";
import { type BrokerProcess, brokerProcessEnv, spawnBroker } from "../support/broker-process.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";
import { until } from "../support/until.ts";

const redirect = "http://127.0.0.1:1/auth/callback";

interface Row {
  connectionId: string;
  version: bigint;
  leaseId: string | null;
  rotationStartedAt: Date | null;
}

/** Registers the IdP on `broker` and connects `n` workspaces; returns the connection ids. */
async function connectMany(rest: (m: string, p: string, b?: unknown) => Promise<JsonReply>, deliver: (search: string) => Promise<Response>, authorize: (authUrl: string) => Promise<URL>, issuer: string, n: number): Promise<string[]> {
  const registered = await rest("POST", "/providers", {
    profile: { name: "idp", auth_type: "oauth2", client_id: "nexus", client_secret: "s", issuer, enable_discovery: true, scopes: ["openid"] },
  });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const started = await rest("POST", "/connections", { workspace_id: `ws-${i}`, provider_name: "idp", return_url: "https://app.example.com/" });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const back = await authorize(started.body.auth_url as string);
    assert.equal((await deliver(back.search)).status, 303);
    ids.push(started.body.connection_id as string);
  }
  return ids;
}

describe("refreshes on the wire when the Broker stops", () => {
  let db: TestDatabase;
  let idp: TestIdp;
  let brokerA: BrokerProcess | undefined;
  let brokerB: RunningService | undefined;
  let env: Record<string, string>;
  const rows = async () => db.sql<Row[]>`select connection_id, version, lease_id, rotation_started_at from credentials order by connection_id`;

  before(async () => {
    db = await createTestDatabase();
    idp = await startTestIdp({ clients: [{ client_id: "nexus", client_secret: "s", redirect_uris: [redirect] }], accessTokenTtl: 6 });
    // Lease 12 s: provider calls get 6 s, more than the provider's 3 s answer delay.
    env = brokerProcessEnv(db.url, { REFRESH_LEASE_SECONDS: "12" });
  });
  after(async () => {
    brokerA?.child.kill("SIGKILL");
    await brokerB?.close();
    await idp?.close();
    await db?.close();
  });

  it("SIGTERM with 8 rotations in flight: the Broker waits for the answers, writes them and exits 0; all 8 grants work after the restart", async (t) => {
    brokerA = await spawnBroker(env);
    const a = brokerA;
    const ids = await connectMany(a.rest, (q) => fetch(`${a.url}/auth/callback${q}`, { redirect: "manual" }), (u) => idp.authorize(u), idp.issuer, 8);
    const exchanges = idp.tokenRequests.answered;
    idp.setTokenAnswerDelay(3000);
    // The 6 s tokens are due 4 s after consent: wait until the provider has rotated all 8 and is still answering.
    await until("8 refreshes on the wire", async () => (idp.tokenRequests.started - exchanges >= 8 ? true : undefined), 20_000, 20);
    const sentAt = Date.now();
    a.child.kill("SIGTERM");
    const exit = await a.exited;
    idp.setTokenAnswerDelay(0);
    t.diagnostic(`exited ${exit.at - sentAt} ms after SIGTERM`);
    assert.equal(exit.code, 0, a.stderr());
    assert.equal(idp.tokenRequests.answered - exchanges, 8, "the Broker stayed for every answer");
    assert.match(a.stderr(), /SIGTERM received, draining/);
    const after = await rows();
    assert.deepEqual(after.map((r) => r.version), Array(8).fill(2n), "each rotated token was written before exit");
    assert.ok(after.every((r) => r.leaseId === null && r.rotationStartedAt === null), "no lease or write-ahead mark left behind");

    brokerB = await startBroker(env, { port: 0, logWrite: () => {} });
    let kept = 0;
    for (const id of ids) {
      // A forced refresh presents the stored refresh token: oidc-provider would refuse (and revoke the grant) if it were a rotated-away one.
      const forced = await brokerRestAt(brokerB.url, env.API_KEY!, "POST", `/connections/${id}/refresh`);
      assert.equal(forced.status, 200, JSON.stringify(forced.body));
      const token = (forced.body.credentials as Record<string, string>).access_token;
      assert.equal((await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      kept++;
    }
    t.diagnostic(`grants kept: ${kept} of 8`);
    await brokerB.close();
    brokerB = undefined;
  });

  it("SIGKILL with rotations in flight against a strict provider: attention_required, reason rotation_interrupted", async (t) => {
    await db.sql`delete from connections`;
    await db.sql`delete from providers`;
    brokerA = await spawnBroker(env);
    const a = brokerA;
    const ids = await connectMany(a.rest, (q) => fetch(`${a.url}/auth/callback${q}`, { redirect: "manual" }), (u) => idp.authorize(u), idp.issuer, 4);
    const exchanges = idp.tokenRequests.started;
    idp.setTokenAnswerDelay(3000);
    await until("4 refreshes on the wire", async () => (idp.tokenRequests.started - exchanges >= 4 ? true : undefined), 20_000, 20);
    a.child.kill("SIGKILL");
    await a.exited;
    idp.setTokenAnswerDelay(0);
    const marked = await rows();
    assert.ok(marked.every((r) => r.rotationStartedAt !== null && r.version === 1n), "the dead Broker's write-ahead marks stay on the rows");

    // Broker B waits for the dead leases to lapse, then tries each stored token once.
    brokerB = await startBroker(env, { port: 0, logWrite: () => {} });
    const b = brokerB;
    const statuses = await until("every connection to be decided", async () => {
      const all = await Promise.all(ids.map(async (id) => (await brokerRestAt(b.url, env.API_KEY!, "GET", `/connections/${id}`)).body));
      return all.every((c) => c.status !== "active") ? all : undefined;
    }, 40_000, 250);
    assert.deepEqual(statuses.map((c) => [c.status, c.status_reason]), Array(4).fill(["attention_required", "rotation_interrupted"]));
    const token = await brokerRestAt(b.url, env.API_KEY!, "GET", `/connections/${ids[0]}/token`);
    assert.equal(token.body.code, "failed_precondition");
    assert.match(token.body.message as string, /^attention_required: .*rotation_interrupted/);
    const audit = await db.sql<{ reason: string }[]>`select reason from audit_events where event_type = 'connection.attention_required'`;
    assert.deepEqual(audit.map((e) => e.reason), Array(4).fill("rotation_interrupted"));
    t.diagnostic("grants lost to SIGKILL against a strict rotating provider: 4 of 4, each reported as rotation_interrupted");
    await brokerB.close();
    brokerB = undefined;
  });
});

describe("SIGKILL against a provider with a refresh token reuse interval", () => {
  let db: TestDatabase;
  let fake: FakeProvider;
  let brokerB: RunningService | undefined;

  before(async () => {
    db = await createTestDatabase();
    fake = await startFakeProvider({ reuseGraceMs: 60_000 });
  });
  after(async () => {
    await brokerB?.close();
    await fake?.close();
    await db?.close();
  });

  it("the stored token is tried once after the crash, accepted inside the reuse interval, and the grant recovers", async () => {
    const env = brokerProcessEnv(db.url, { REFRESH_LEASE_SECONDS: "6" });
    const a = await spawnBroker(env);
    try {
      const registered = await a.rest("POST", "/providers", {
        profile: { name: "fake", auth_type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, issuer: fake.issuer, enable_discovery: true, scopes: ["openid"] },
      });
      assert.equal(registered.status, 201);
      const started = await a.rest("POST", "/connections", { workspace_id: "ws-grace", provider_name: "fake", return_url: "https://app.example.com/" });
      // A 3 s token (due at 2 s); its refresh rotates at once and answers 2.5 s later.
      fake.script.push({ kind: "ok", accessTokenTtl: 3 }, { kind: "ok", answerDelayMs: 2500 });
      assert.equal((await fetch(`${a.url}/auth/callback${fake.authorize(started.body.auth_url as string).search}`, { redirect: "manual" })).status, 303);
      await until("the refresh to reach the provider", async () => (fake.seen.some((r) => r.grantType === "refresh_token") ? true : undefined), 15_000, 20);
      a.child.kill("SIGKILL");
      await a.exited;
      const presented = fake.seen.find((r) => r.grantType === "refresh_token")!.params.get("refresh_token");
      assert.equal(fake.validRefreshTokens.has(presented!), false, "the provider rotated it away");

      brokerB = await startBroker(env, { port: 0, logWrite: () => {} });
      const id = started.body.connection_id as string;
      const row = await until("Broker B to refresh after the lease lapsed", async () => {
        const [r] = await db.sql<Row[]>`select connection_id, version, lease_id, rotation_started_at from credentials where connection_id = ${id}`;
        return r!.version > 1n ? r : undefined;
      }, 20_000);
      assert.equal(row.rotationStartedAt, null);
      const refreshes = fake.seen.filter((r) => r.grantType === "refresh_token");
      assert.equal(refreshes[1]!.params.get("refresh_token"), presented, "B tried the stored token, once");
      assert.equal((await brokerRestAt(brokerB.url, env.API_KEY!, "GET", `/connections/${id}`)).body.status, "active");
    } finally {
      a.child.kill("SIGKILL");
    }
  });
});

describe("a drain that cannot finish", () => {
  let db: TestDatabase;
  let fake: FakeProvider;
  let env: Record<string, string>;

  before(async () => {
    db = await createTestDatabase();
    fake = await startFakeProvider();
    env = brokerProcessEnv(db.url);
  });
  after(async () => {
    await fake?.close();
    await db?.close();
  });

  /** A Broker process whose one refresh hangs at the provider (the provider deadline is 15 s). */
  async function hungBroker(overrides: Record<string, string>): Promise<BrokerProcess> {
    await db.sql`delete from connections`;
    await db.sql`delete from providers`;
    const broker = await spawnBroker({ ...env, ...overrides });
    await broker.rest("POST", "/providers", {
      profile: { name: "fake", auth_type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, issuer: fake.issuer, enable_discovery: true, scopes: ["openid"] },
    });
    const started = await broker.rest("POST", "/connections", { workspace_id: "ws", provider_name: "fake", return_url: "https://app.example.com/" });
    fake.script.push({ kind: "ok", accessTokenTtl: 3 }, { kind: "hang" });
    await fetch(`${broker.url}/auth/callback${fake.authorize(started.body.auth_url as string).search}`, { redirect: "manual" });
    const seen = fake.seen.length;
    await until("the refresh to hang at the provider", async () => (fake.seen.length > seen ? true : undefined), 15_000, 20);
    return broker;
  }

  it("ends at SHUTDOWN_DRAIN_SECONDS, says so at error level, and exits 0", async () => {
    const broker = await hungBroker({ SHUTDOWN_DRAIN_SECONDS: "2" });
    const sentAt = Date.now();
    broker.child.kill("SIGTERM");
    const exit = await broker.exited;
    assert.equal(exit.code, 0, broker.stderr());
    assert.ok(exit.at - sentAt >= 1900 && exit.at - sentAt < 8000, `exited ${exit.at - sentAt} ms after SIGTERM`);
    assert.match(broker.stderr(), /"level":"error".*refreshes still running at the drain deadline/);
  });

  it("a second SIGTERM a moment later stops at once, with exit code 1", async () => {
    const broker = await hungBroker({});
    broker.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 1500));
    const secondAt = Date.now();
    broker.child.kill("SIGTERM");
    const exit = await broker.exited;
    assert.equal(exit.code, 1);
    assert.ok(exit.at - secondAt < 2000, `exited ${exit.at - secondAt} ms after the second SIGTERM`);
    assert.match(broker.stderr(), /second SIGTERM, stopping now/);
  });
});
