/**
 * The background refresh against a provider that misbehaves (the scriptable
 * fake token endpoint): transient failures back off exponentially and honour
 * Retry-After without touching the stored credential, GetToken does not call
 * the provider while backing off, a refresh failing for REFRESH_GIVE_UP_DAYS
 * and an invalid_grant both hand the connection to the user, and a token
 * without a refresh token is never queued.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { brokerRest, deliverCallback, registerProvider } from "../support/broker-api.ts";
import { type FakeProvider, startFakeProvider, type TokenScript } from "../support/fake-provider.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { type TokenTraffic, tokenTrafficFetch } from "../support/token-traffic.ts";
import { sleep, until } from "../support/until.ts";

interface CredentialRow {
  keyId: string;
  secretCt: string;
  refreshCt: string | null;
  version: bigint;
  expiresAt: Date | null;
  refreshDueAt: Date | null;
  leaseOwner: string | null;
  failureCount: number;
  failingSince: Date | null;
  nextAttemptAt: Date | null;
  lastError: string;
  /** next_attempt_at - now(), in seconds, on the database clock. */
  wait: number | null;
}

describe("background refresh against a failing provider", () => {
  let fake: FakeProvider;
  let stack: TestStack;
  let traffic: TokenTraffic;

  before(async () => {
    fake = await startFakeProvider();
    traffic = tokenTrafficFetch();
    // Lease 4 s: provider calls are cut off after 2 s. First backoff 1 s.
    stack = await startStack({ brokerOnly: true, fetch: traffic.fetch, brokerEnv: { REFRESH_BACKOFF_SECONDS: "1", REFRESH_LEASE_SECONDS: "4" } });
    await registerProvider(stack, {
      name: "flaky", auth_type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, issuer: fake.issuer, enable_discovery: true, scopes: ["openid"],
    });
  });
  // Each scenario starts alone: whatever an earlier one left (a failed assertion mid-script) goes quiet.
  afterEach(async () => {
    await stack.db.sql`update credentials set refresh_due_at = null`;
    fake.script.splice(0);
  });
  after(async () => {
    await stack?.close();
    await fake?.close();
  });

  /** A consent whose code exchange gets `exchange`; later token answers are queued behind it. */
  async function connect(workspace: string, exchange: TokenScript, ...then: TokenScript[]): Promise<string> {
    assert.equal(fake.script.length, 0, "the script is empty before a new connection");
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: workspace, provider_name: "flaky", return_url: "https://app.example.com/" });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    fake.script.push(exchange, ...then);
    const cb = await deliverCallback(stack, fake.authorize(started.body.auth_url as string));
    assert.equal(cb.status, 303);
    assert.equal(new URL(cb.headers.get("location")!).searchParams.get("status"), "success");
    return started.body.connection_id as string;
  }

  const row = async (id: string) =>
    (await stack.db.sql<CredentialRow[]>`select key_id, secret_ct, refresh_ct, version, expires_at, refresh_due_at, lease_owner, failure_count,
        failing_since, next_attempt_at, last_error, extract(epoch from next_attempt_at - now())::float8 as wait
      from credentials where connection_id = ${id}`)[0]!;
  const connection = async (id: string) => {
    const r = await brokerRest(stack, "GET", `/connections/${id}`);
    return { status: r.body.status as string, reason: (r.body.status_reason as string | undefined) ?? "" };
  };
  const refreshRequests = () => fake.seen.filter((r) => r.grantType === "refresh_token").length;
  const accessToken = (body: Record<string, unknown>) => (body.credentials as Record<string, string>).access_token;
  const events = (id: string, type: string) =>
    stack.db.sql<{ reason: string; details: Record<string, unknown> }[]>`
      select reason, details from audit_events where connection_id = ${id} and event_type = ${type} order by id`;

  it("backs off exponentially on 500, 429 (Retry-After: 5), a timeout and an HTML 502, keeps the credential intact, then recovers", async () => {
    const failures: { name: string; step: TokenScript; lastError: string; retryIn: [number, number] }[] = [
      // Backoff 1 s × 2^failures × [0.8, 1.2], rounded up; Retry-After wins when longer.
      { name: "500", step: { kind: "status", status: 500 }, lastError: "server_error", retryIn: [1, 2] },
      { name: "429", step: { kind: "status", status: 429, retryAfter: "5", body: JSON.stringify({ error: "slow_down" }) }, lastError: "slow_down", retryIn: [5, 5] },
      { name: "timeout", step: { kind: "hang" }, lastError: "timeout", retryIn: [4, 5] },
      { name: "502 HTML", step: { kind: "status", status: 502, contentType: "text/html", body: "<html><body>Bad Gateway</body></html>" }, lastError: "http_502", retryIn: [7, 10] },
    ];
    // A 3 s token is due after 2 s: the loop's first refresh meets the first fault.
    const id = await connect("ws-faults", { kind: "ok", accessTokenTtl: 3 }, ...failures.map((f) => f.step), { kind: "ok" });
    const original = await row(id);
    // Not read through GetToken: a 3 s token counts as expired there and would be refreshed on demand.
    const originalToken = traffic.exchanges.at(-1)!.body!.access_token;
    const retryIns: number[] = [];
    let firstFailingSince: number | undefined;

    for (const [i, f] of failures.entries()) {
      const n = i + 1;
      // One read of the row right when the failure shows: the next attempt is at least a second away.
      const failed = await until(`failure ${n} (${f.name})`, async () => {
        const r = await row(id);
        return r.failureCount >= n ? r : undefined;
      }, 20_000, 25);
      assert.equal(failed.failureCount, n, `${f.name}: failure_count went up by one`);
      assert.equal(failed.lastError, f.lastError, `${f.name}: last_error names the failure`);
      assert.equal(failed.leaseOwner, null, `${f.name}: the lease is given back`);
      assert.ok(failed.failingSince !== null, `${f.name}: failing_since is set`);
      firstFailingSince ??= failed.failingSince.getTime();
      assert.equal(failed.failingSince.getTime(), firstFailingSince, `${f.name}: failing_since keeps the first failure's time`);
      const [audit] = (await until(`the audit event of failure ${n}`, async () => {
        const rows = await events(id, "token.refresh_failed");
        return rows.length >= n ? rows.slice(n - 1) : undefined;
      }, 5000));
      assert.equal(audit!.reason, f.lastError);
      const retryIn = audit!.details.retry_in_s as number;
      assert.ok(retryIn >= f.retryIn[0] && retryIn <= f.retryIn[1], `${f.name}: retry in ${retryIn} s, expected ${f.retryIn[0]}..${f.retryIn[1]}`);
      assert.ok(failed.wait !== null && failed.wait <= retryIn + 0.5 && failed.wait > retryIn - 2, `${f.name}: next_attempt_at is ${failed.wait} s away, retry_in ${retryIn}`);
      if (f.name === "429") assert.ok(failed.wait! >= 3.5, `Retry-After 5 honoured (next attempt in ${failed.wait} s)`);
      retryIns.push(retryIn);

      // The connection stays usable as it was: same status, same ciphertexts, same (expired) token state.
      assert.deepEqual(await connection(id), { status: "active", reason: "" }, f.name);
      for (const column of ["keyId", "secretCt", "refreshCt", "version", "expiresAt", "refreshDueAt"] as const) {
        assert.deepEqual(failed[column], original[column], `${f.name}: ${column} unchanged`);
      }

      if (f.name === "429") {
        // Backing off: GetToken on the expired token does not call the provider.
        const before = fake.seen.length;
        const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
        assert.equal(token.status, 503, JSON.stringify(token.body));
        assert.equal(token.body.code, "unavailable");
        assert.match(token.body.message as string, /^refresh_backoff: /);
        assert.equal(fake.seen.length, before, "no provider call while backing off");
      }
      if (f.name === "timeout") {
        // Cut off at half the 4 s lease, not the 15 s default deadline (which would outlive the lease).
        const hungAt = fake.seen.filter((r) => r.grantType === "refresh_token")[n - 1]!.at;
        assert.ok(Date.now() - hungAt < 8000, `the hung call ended ${Date.now() - hungAt} ms after it started`);
        await until("the provider to see the hung request abandoned (the 2 s deadline)", async () => (fake.abandoned.count === 1 ? true : undefined), 5000);
      }

      // Skip the wait: due now. The UPDATE also NOTIFYs the loop.
      await stack.db.sql`update credentials set next_attempt_at = now() where connection_id = ${id} and failure_count = ${n}`;
    }
    // Exponential: the waits without Retry-After grow 1-2 s, 4-5 s, 7-10 s.
    assert.ok(retryIns[0]! < retryIns[2]! && retryIns[2]! < retryIns[3]!, `backoff grows: ${retryIns.join(", ")}`);

    const recovered = await until("the refresh after the faults", async () => {
      const r = await row(id);
      return r.version > original.version ? r : undefined;
    }, 20_000);
    assert.equal(recovered.version, original.version + 1n);
    assert.equal(recovered.failureCount, 0);
    assert.equal(recovered.failingSince, null);
    assert.equal(recovered.nextAttemptAt, null);
    assert.equal(recovered.lastError, "");
    assert.notEqual(recovered.refreshCt, original.refreshCt);
    assert.equal(refreshRequests(), failures.length + 1, "one provider call per attempt, no extra retries");
    const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.equal(accessToken(token.body), traffic.refreshes().at(-1)!.body!.access_token, "GetToken returns the new token");
    assert.notEqual(accessToken(token.body), originalToken);
    assert.deepEqual(await connection(id), { status: "active", reason: "" });
  });

  it("gives up after REFRESH_GIVE_UP_DAYS of failures: attention_required (refresh_failing), audited", async () => {
    const id = await connect("ws-give-up", { kind: "ok" });
    fake.script.push({ kind: "status", status: 500 });
    const before = refreshRequests();
    // Failing since 5 days (the default limit is 4), and due now.
    await stack.db.sql`update credentials set failing_since = now() - interval '5 days', failure_count = 3, refresh_due_at = now() where connection_id = ${id}`;
    await until("attention_required", async () => ((await connection(id)).status === "attention_required" ? true : undefined));
    assert.deepEqual(await connection(id), { status: "attention_required", reason: "refresh_failing" });
    assert.equal(refreshRequests() - before, 1);
    const audit = await until("the connection.attention_required event", async () => {
      const rows = await events(id, "connection.attention_required");
      return rows.length > 0 ? rows : undefined;
    }, 5000);
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.reason, "refresh_failing");
    const r = await row(id);
    assert.equal(r.refreshDueAt, null, "nothing refreshes it any more");
    assert.equal(r.leaseOwner, null);
    const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
    assert.equal(token.body.code, "failed_precondition");
    assert.match(token.body.message as string, /^attention_required: .*refresh_failing/);
  });

  it("an invalid_grant answer to a background refresh makes the connection attention_required, once, and GetToken says so", async () => {
    const id = await connect("ws-invalid-grant", { kind: "ok" });
    const stored = await row(id);
    fake.script.push({ kind: "status", status: 400, body: JSON.stringify({ error: "invalid_grant", error_description: "grant revoked" }) });
    const before = refreshRequests();
    await stack.db.sql`update credentials set refresh_due_at = now() where connection_id = ${id}`;
    await until("attention_required", async () => ((await connection(id)).status === "attention_required" ? true : undefined));
    assert.deepEqual(await connection(id), { status: "attention_required", reason: "invalid_grant" });
    const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
    assert.equal(token.status, 400);
    assert.equal(token.body.code, "failed_precondition");
    assert.match(token.body.message as string, /^attention_required: .*invalid_grant/);
    const r = await row(id);
    assert.equal(r.refreshDueAt, null);
    assert.equal(r.failureCount, 0, "terminal, not a transient failure");
    assert.equal(r.secretCt, stored.secretCt);
    await sleep(1500);
    assert.equal(refreshRequests() - before, 1, "no retry");
    const audit = await until("the audit events", async () => {
      const rows = await events(id, "connection.attention_required");
      return rows.length > 0 ? rows : undefined;
    }, 5000);
    assert.equal(audit[0]!.reason, "invalid_grant");
  });

  it("a token without a refresh token is never queued, never claimed, and not refreshed by GetToken after it expires", async () => {
    const id = await connect("ws-no-refresh-token", { kind: "ok", accessTokenTtl: 3, omitRefreshToken: true });
    const stored = await row(id);
    assert.equal(stored.refreshCt, null);
    assert.equal(stored.refreshDueAt, null, "not in the refresh queue");
    const metric = async (method: string) => {
      const text = await (await fetch(`${stack.broker.url}/metrics`)).text();
      const m = new RegExp(`nexus_db_operation_duration_seconds_count\\{repo="connections",method="${method}"\\} (\\d+)`).exec(text);
      return Number(m?.[1] ?? 0);
    };
    const reads = await metric("getCredential");
    const claims = await metric("claimLease");
    const seen = fake.seen.length;
    // Past its expiry, with nothing else of this Broker's running.
    await until("the token to expire", async () => (stored.expiresAt!.getTime() < Date.now() - 1000 ? true : undefined), 10_000);
    const later = await row(id);
    assert.equal(later.leaseOwner, null);
    assert.equal(later.version, stored.version);
    assert.equal(fake.seen.length, seen, "no token request");
    assert.equal(await metric("getCredential"), reads, "no refresh even looked at the credential");
    assert.equal(await metric("claimLease"), claims);

    // GetToken hands out the stored token as it is: refreshing is impossible, and it says so in expires_at.
    const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
    assert.equal(fake.seen.length, seen, "GetToken made no provider call");
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.ok((token.body.expires_at as number) * 1000 < Date.now(), "expires_at is in the past");
    // A forced refresh is refused without a provider call.
    const forced = await brokerRest(stack, "POST", `/connections/${id}/refresh`);
    assert.equal(forced.status, 400, JSON.stringify(forced.body));
    assert.equal(forced.body.code, "failed_precondition");
    assert.match(forced.body.message as string, /^not_refreshable: /);
    assert.equal(fake.seen.length, seen);
    assert.deepEqual(await connection(id), { status: "active", reason: "" });
  });
});
