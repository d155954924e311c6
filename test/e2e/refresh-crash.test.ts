/**
 * A Broker process killed (SIGKILL) in the middle of a background refresh: its
 * lease on the credential row must lapse, another Broker must then take the
 * refresh over with the same refresh token (the dead one never got an answer,
 * so the provider never rotated it), and nothing of the dead process may stay
 * behind on the row.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type RunningService, startBroker } from "../../src/runtime/node/start-broker.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import { freePort } from "../support/free-port.ts";
import { type TokenTraffic, tokenTrafficFetch } from "../support/token-traffic.ts";
import { until } from "../support/until.ts";

const root = new URL("../../", import.meta.url).pathname;

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

interface CredentialRow {
  version: bigint;
  leaseOwner: string | null;
  leaseUntil: Date | null;
  refreshCt: string;
  secretCt: string;
  failureCount: number;
  nextAttemptAt: Date | null;
}

describe("a Broker killed mid-refresh", () => {
  let db: TestDatabase;
  let fake: FakeProvider;
  let child: ChildProcess | undefined;
  let childExit: Promise<NodeJS.Signals | null>;
  let brokerB: RunningService | undefined;
  let trafficB: TokenTraffic;
  let stderrA = "";
  const apiKey = `admin-${randomBytes(18).toString("base64url")}`;
  let env: Record<string, string>;

  async function rest(baseUrl: string, method: string, path: string, body?: unknown): Promise<Reply> {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { "x-api-key": apiKey, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
  }

  const credential = async (id: string) =>
    (await db.sql<CredentialRow[]>`select version, lease_owner, lease_until, refresh_ct, secret_ct, failure_count, next_attempt_at
      from credentials where connection_id = ${id}`)[0]!;

  before(async () => {
    db = await createTestDatabase();
    fake = await startFakeProvider();
    env = {
      DATABASE_URL: db.url, ENCRYPTION_KEY: randomBytes(32).toString("base64"), STATE_KEY: randomBytes(32).toString("base64"),
      API_KEY: apiKey, BASE_URL: "http://127.0.0.1:1", ALLOWED_RETURN_DOMAINS: "app.example.com", ALLOW_HTTP_LOOPBACK_PROVIDERS: "true", REFRESH_MIN_INTERVAL_SECONDS: "1",
      REFRESH_LEASE_SECONDS: "4", LOG_LEVEL: "info",
    };
  });
  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await brokerB?.close();
    await fake?.close();
    await db?.close();
  });

  it("leaves a lease that lapses; Broker B then refreshes with the same refresh token, and the connection keeps working", async () => {
    // Broker A: a real process, started the way `make broker` starts it.
    const portA = await freePort();
    child = spawn(process.execPath, ["--import", "tsx", "src/runtime/node/broker.ts"], {
      cwd: root,
      env: { ...process.env, ...env, BROKER_PORT: String(portA) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr!.on("data", (d) => (stderrA += d));
    childExit = new Promise((resolve) => child!.once("exit", (_code, signal) => resolve(signal)));
    const urlA = `http://127.0.0.1:${portA}`;
    await until("Broker A to be healthy", async () => ((await fetch(`${urlA}/healthz`)).ok ? true : undefined), 30_000)
      .catch((error) => { throw new Error(`${error}\n${stderrA}`); });

    const registered = await rest(urlA, "POST", "/providers", {
      profile: { name: "fake", auth_type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, issuer: fake.issuer, enable_discovery: true, scopes: ["openid"] },
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const started = await rest(urlA, "POST", "/connections", { workspace_id: "ws-crash", provider_name: "fake", return_url: "https://app.example.com/" });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const id = started.body.connection_id as string;
    // The code exchange gives a 3 s token (due after 2 s); A's first refresh of it hangs.
    fake.script.push({ kind: "ok", accessTokenTtl: 3 }, { kind: "hang" });
    const callback = await fetch(`${urlA}/auth/callback${fake.authorize(started.body.auth_url as string).search}`, { redirect: "manual" });
    assert.equal(callback.status, 303);
    const original = await credential(id);
    assert.equal(original.version, 1n);

    // A's loop claims the credential and its provider call hangs. A's own deadline is 2 s (half the lease): kill it well before.
    const hung = await until("A to claim the credential and send the refresh", async () => {
      const request = fake.seen.find((r) => r.grantType === "refresh_token");
      if (request === undefined) return undefined;
      const row = await credential(id);
      return row.leaseOwner !== null ? { request, row } : undefined;
    }, 15_000, 20);
    child.kill("SIGKILL");
    assert.equal(await childExit, "SIGKILL");
    const presented = hung.request.params.get("refresh_token")!;
    assert.ok(fake.validRefreshTokens.has(presented), "the provider never answered, so the refresh token was not rotated");
    const leaseOwnerA = hung.row.leaseOwner!;
    const leaseUntil = hung.row.leaseUntil!;
    await until("the provider to see A's request abandoned", async () => (fake.abandoned.count === 1 ? true : undefined), 5000);
    const afterKill = await credential(id);
    assert.equal(afterKill.version, 1n, "A wrote nothing");
    assert.equal(afterKill.leaseOwner, leaseOwnerA, "A's lease stays on the row until it lapses");
    assert.equal(afterKill.failureCount, 0, "A did not get to record a failure either");

    // Broker B: same database and keys, in this process.
    trafficB = tokenTrafficFetch();
    brokerB = await startBroker(env, { port: 0, fetch: trafficB.fetch, logWrite: () => {} });
    const refreshed = await until("B to refresh the credential", async () => {
      const row = await credential(id);
      return row.version > 1n ? row : undefined;
    }, 20_000);
    const refreshes = fake.seen.filter((r) => r.grantType === "refresh_token");
    assert.equal(refreshes.length, 2, "A's hung request and B's, nothing else");
    assert.equal(refreshes[1]!.params.get("refresh_token"), presented, "B presented the same refresh token A had presented");
    assert.ok(refreshes[1]!.at >= leaseUntil.getTime() - 250, `B waited for A's lease to lapse (${leaseUntil.getTime() - refreshes[1]!.at} ms early)`);
    assert.equal(refreshed.version, 2n);
    assert.equal(refreshed.leaseOwner, null, "the lease is released");
    assert.equal(refreshed.leaseUntil, null);
    assert.equal(refreshed.failureCount, 0);
    assert.notEqual(refreshed.refreshCt, original.refreshCt, "the rotated refresh token is stored");
    assert.notEqual(refreshed.secretCt, original.secretCt);

    const events = await until("the token.refreshed audit event", async () => {
      const rows = await db.sql<{ details: { trigger: string } }[]>`select details from audit_events where connection_id = ${id} and event_type = 'token.refreshed'`;
      return rows.length > 0 ? rows : undefined;
    }, 5000);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.details.trigger, "background");

    const connection = await rest(brokerB.url, "GET", `/connections/${id}`);
    assert.equal(connection.body.status, "active");
    const answer = trafficB.refreshes().at(-1)!;
    assert.equal(answer.status, 200);
    const token = await rest(brokerB.url, "GET", `/connections/${id}/token`);
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.equal((token.body.credentials as Record<string, string>).access_token, answer.body!.access_token, "GetToken hands out B's new access token");
    assert.equal(fake.seen.filter((r) => r.grantType === "refresh_token").length, 2, "the new token is fresh: GetToken did not refresh again");
  });
});
