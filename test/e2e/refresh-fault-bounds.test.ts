/**
 * Faults that once made the refresh loop spin (about 124 claims a second,
 * failure_count 0, nothing logged) or turn a connection attention_required
 * for nothing: discovery unreachable, a provider whose auth_type changed under
 * a due connection, a token endpoint answering 200 with HTML, and one that
 * answers expires_in 0. Each now counts its attempts, backs off (or waits the
 * minimum interval), logs at warn with the connection and provider, and keeps
 * the connection active. All four run side by side for the same 7 s window.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { brokerRest, deliverCallback, registerProvider } from "../support/broker-api.ts";
import { type FakeProvider, startFakeProvider, type TokenScript } from "../support/fake-provider.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { sleep } from "../support/until.ts";

describe("refresh faults stay bounded", () => {
  let stack: TestStack;
  const fakes: Record<string, FakeProvider> = {};

  before(async () => {
    for (const name of ["disc", "kind", "html", "zero"]) fakes[name] = await startFakeProvider();
    stack = await startStack({ brokerOnly: true, brokerEnv: { REFRESH_BACKOFF_SECONDS: "1", REFRESH_MIN_INTERVAL_SECONDS: "2", LOG_LEVEL: "info" } });
    for (const [name, fake] of Object.entries(fakes)) {
      await registerProvider(stack, { name, auth_type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, issuer: fake.issuer, enable_discovery: true, scopes: ["openid"] });
    }
  });
  after(async () => {
    await stack?.close();
    for (const fake of Object.values(fakes)) await fake.close();
  });

  async function connect(name: string, exchange: TokenScript): Promise<string> {
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: `ws-${name}`, provider_name: name, return_url: "https://app.example.com/" });
    fakes[name]!.script.push(exchange);
    const cb = await deliverCallback(stack, fakes[name]!.authorize(started.body.auth_url as string));
    assert.equal(new URL(cb.headers.get("location")!).searchParams.get("status"), "success");
    return started.body.connection_id as string;
  }

  it("discovery unreachable, auth_type changed, HTML 200 and expires_in 0: bounded attempts, warn logs, still active", async (t) => {
    const ids = {
      disc: await connect("disc", { kind: "ok" }),
      kind: await connect("kind", { kind: "ok" }),
      html: await connect("html", { kind: "ok" }),
      zero: await connect("zero", { kind: "ok", accessTokenTtl: 0 }),
    };
    // Break discovery (an issuer nobody answers at) and the provider's kind, then make the first three due now.
    await stack.db.sql`update providers set issuer = 'http://127.0.0.1:9' where name = 'disc'`;
    await stack.db.sql`update providers set auth_type = 'api_key' where name = 'kind'`;
    for (let i = 0; i < 20; i++) fakes.html!.script.push({ kind: "status", status: 200, contentType: "text/html", body: "<html><h1>Maintenance</h1></html>" });
    for (let i = 0; i < 20; i++) fakes.zero!.script.push({ kind: "ok", accessTokenTtl: 0 });
    const before = Object.fromEntries(Object.entries(fakes).map(([k, f]) => [k, f.seen.filter((r) => r.grantType === "refresh_token").length]));
    const logStart = stack.logs.length;
    await stack.db.sql`update credentials set refresh_due_at = now() where connection_id in ${stack.db.sql([ids.disc, ids.kind, ids.html])}`;
    // An agent polling the expires_in-0 token all the while.
    const started = Date.now();
    let reads = 0;
    while (Date.now() - started < 7000) {
      const r = await brokerRest(stack, "GET", `/connections/${ids.zero}/token`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      reads++;
      await sleep(50);
    }

    const rows = await stack.db.sql<{ connectionId: string; failureCount: number; lastError: string; leaseId: string | null }[]>`
      select connection_id, failure_count, last_error, lease_id from credentials`;
    const row = (id: string) => rows.find((r) => r.connectionId === id)!;
    const logs = stack.logs.slice(logStart).map((l) => JSON.parse(l) as Record<string, unknown>);
    const warnsFor = (id: string) => logs.filter((l) => l.level === "warn" && l.connection_id === id);
    // Backoff 1 s doubling (±20 %): attempts at about 0, 1, 3 and 7 s.
    for (const [name, reason] of [["disc", "discovery_failed"], ["kind", "provider_not_oauth"], ["html", "invalid_token_response"]] as const) {
      const r = row(ids[name]);
      t.diagnostic(`${name}: ${r.failureCount} attempts in 7 s (${reason})`);
      assert.ok(r.failureCount >= 2 && r.failureCount <= 4, `${name}: ${r.failureCount} attempts, each counted`);
      assert.equal(r.lastError, reason);
      assert.ok(warnsFor(ids[name]).length >= r.failureCount, `${name}: every attempt logged at warn`);
      assert.ok(warnsFor(ids[name]).every((l) => l.provider === name), `${name}: the warn lines name the provider`);
    }
    assert.equal(fakes.disc!.seen.filter((r) => r.grantType === "refresh_token").length, before.disc, "no token request without discovery");
    assert.equal(fakes.kind!.seen.filter((r) => r.grantType === "refresh_token").length, before.kind);
    const htmlRequests = fakes.html!.seen.filter((r) => r.grantType === "refresh_token").length - before.html!;
    assert.equal(htmlRequests, row(ids.html).failureCount, "one provider request per counted attempt");

    // expires_in 0: refreshed no more often than every 2 s (the minimum interval), whatever the reads.
    const zeroRequests = fakes.zero!.seen.filter((r) => r.grantType === "refresh_token").length - before.zero!;
    t.diagnostic(`expires_in 0: ${zeroRequests} refreshes in 7 s with ${reads} reads`);
    assert.ok(zeroRequests >= 2 && zeroRequests <= 4, `${zeroRequests} refreshes`);
    assert.ok(logs.some((l) => l.level === "warn" && l.connection_id === ids.zero && /provider quirk/.test(String(l.msg))));

    for (const [name, id] of Object.entries(ids)) {
      const c = await brokerRest(stack, "GET", `/connections/${id}`);
      assert.equal(c.body.status, "active", `${name} stays active`);
    }
  });
});
