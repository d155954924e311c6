import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { brokerRest, deliverCallback, registerProvider } from "../support/broker-api.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("the background refresh loop", () => {
  let idp: TestIdp;
  let stack: TestStack;

  before(async () => {
    idp = await startTestIdp({ clients: [{ client_id: "nexus", client_secret: "s", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }], accessTokenTtl: 5 });
    stack = await startStack({ brokerOnly: true, housekeepingIntervalMs: 500 });
    await registerProvider(stack, { name: "short", auth_type: "oauth2", client_id: "nexus", client_secret: "s", issuer: idp.issuer, enable_discovery: true, scopes: ["openid"] });
  });
  after(async () => {
    await stack.close();
    await idp.close();
  });

  async function connect(workspace: string): Promise<string> {
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: workspace, provider_name: "short", return_url: "https://app.example.com/" });
    assert.equal((await deliverCallback(stack, await idp.authorize(started.body.auth_url as string))).status, 303);
    return started.body.connection_id as string;
  }

  const credentialVersion = async (id: string) => (await stack.db.sql<{ version: bigint }[]>`select version from credentials where connection_id = ${id}`)[0]!.version;

  it("refreshes a 5 s token before it expires, with no client call, and the new token works at userinfo", async () => {
    const id = await connect("ws-loop");
    const [row] = await stack.db.sql<{ expiresAt: Date; refreshDueAt: Date; refreshedAt: Date }[]>`select expires_at, refresh_due_at, refreshed_at from credentials where connection_id = ${id}`;
    const lifetime = row!.expiresAt.getTime() - row!.refreshedAt.getTime();
    const lead = row!.expiresAt.getTime() - row!.refreshDueAt.getTime();
    assert.ok(Math.abs(lead - lifetime / 3) < 50, `due a third of the lifetime early (lead ${lead} ms of ${lifetime} ms)`);
    const first = await credentialVersion(id);
    // No GetToken in between: only the loop can move the version.
    await until("a background refresh", async () => ((await credentialVersion(id)) > first ? true : undefined));
    // Audit events are written in batches, within a fraction of a second.
    const events = await until("the refresh's audit event", async () => {
      const rows = await stack.db.sql<{ details: { trigger: string } }[]>`select details from audit_events where connection_id = ${id} and event_type = 'token.refreshed'`;
      return rows.length > 0 ? rows : undefined;
    });
    assert.ok(events.every((e) => e.details.trigger === "background"));
    const [after] = await stack.db.sql<{ expiresAt: Date }[]>`select expires_at from credentials where connection_id = ${id}`;
    assert.ok(after!.expiresAt.getTime() > row!.expiresAt.getTime(), "the new token expires later");
    assert.ok(after!.expiresAt.getTime() > Date.now(), "it has not expired");
    const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
    const accessToken = (token.body.credentials as Record<string, string>).access_token;
    assert.equal((await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status, 200);
  });

  it("keeps refreshing cycle after cycle: the rotated refresh token is always the one stored", async () => {
    const id = await connect("ws-cycles");
    const start = await credentialVersion(id);
    await until("three background refreshes", async () => ((await credentialVersion(id)) >= start + 3n ? true : undefined), 30_000);
    assert.equal((await brokerRest(stack, "GET", `/connections/${id}`)).body.status, "active");
  });

  it("makes the connection attention_required when the grant is revoked, and GetToken names the reason", async () => {
    const id = await connect("ws-revoked");
    await idp.revokeAll();
    await until("attention_required", async () => ((await brokerRest(stack, "GET", `/connections/${id}`)).body.status === "attention_required" ? true : undefined));
    const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
    assert.equal(token.body.code, "failed_precondition");
    assert.match(token.body.message as string, /^attention_required: /);
    const [cred] = await stack.db.sql`select refresh_due_at, lease_owner from credentials where connection_id = ${id}`;
    assert.equal(cred!.refreshDueAt, null, "nothing refreshes it any more");
    assert.equal(cred!.leaseOwner, null);
  });

  it("fails pending connections whose handshake lapsed, and deletes the handshake", async () => {
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: "ws-lapse", provider_name: "short", return_url: "https://app.example.com/" });
    const id = started.body.connection_id as string;
    await stack.db.sql`update connections set pending_until = now() - interval '1 second' where id = ${id}`;
    await stack.db.sql`update handshakes set expires_at = now() - interval '1 second' where connection_id = ${id}`;
    await until("the lapsed connection to fail", async () => ((await brokerRest(stack, "GET", `/connections/${id}`)).body.status === "failed" ? true : undefined));
    assert.equal((await brokerRest(stack, "GET", `/connections/${id}`)).body.status_reason, "handshake_expired");
    assert.equal((await stack.db.sql`select 1 from handshakes where connection_id = ${id}`).length, 0);
  });

  it("shows the refresh metrics and the connection gauge with the values these scenarios produced", async () => {
    await until("the gauge to count the connections", async () => {
      const text = await (await fetch(`${stack.broker.url}/metrics`)).text();
      // revokeAll() revoked the grants behind all three OAuth connections of the test account.
      return /nexus_connections_total\{status="attention_required"\} 3\b/.test(text) && /nexus_connections_total\{status="failed"\} 1\b/.test(text) ? text : undefined;
    }, 5000).catch(async (error) => {
      throw new Error(`${error}: ${(await (await fetch(`${stack.broker.url}/metrics`)).text()).split("\n").filter((l) => l.startsWith("nexus_connections")).join(" ")}`);
    });
    const text = await (await fetch(`${stack.broker.url}/metrics`)).text();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
    const [{ n: refreshed }] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from audit_events where event_type = 'token.refreshed'`;
    assert.ok(value(/oauth_token_refreshes_total\{status="success"\} (\d+)/) >= refreshed!, text);
    assert.ok(value(/oauth_token_refreshes_total\{status="error"\} (\d+)/) >= 3, "the revoked grants' refusals");
    assert.ok(value(/oauth_refresh_duration_seconds_count (\d+)/) >= refreshed! + 1);
    assert.equal(value(/nexus_connections_total\{status="active"\} (\d+)/), 0);
    assert.ok(value(/oauth_token_get_total\{provider="short",status="success"\} (\d+)/) >= 1, "labelled with the real provider name");
    assert.ok(value(/nexus_db_operation_duration_seconds_count\{repo="refresh_queue",method="claimDue"\} (\d+)/) >= 1);
    assert.ok(value(/nexus_db_operation_duration_seconds_count\{repo="connections",method="storeRefreshed"\} (\d+)/) >= refreshed!);
    assert.doesNotMatch(text, /ws-loop|ws-cycles|ws-revoked/, "no user id in any label");
  });
});
