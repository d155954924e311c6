/**
 * The refresh service's state machine, driven with fakes (test/support/refresh-fakes.ts):
 * an in-memory store whose calls can fail, a scripted token endpoint and a
 * virtual clock. What a provider answered must always end up written, and the
 * lease must always be given back.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RefreshClaim } from "../../src/broker/domain/ports.ts";
import type { Provider } from "../../src/broker/domain/provider.ts";
import { sealedFields } from "../../src/broker/domain/sealed-fields.ts";
import type { EndpointResolver } from "../../src/broker/services/provider-endpoints.ts";
import { createRefreshService, type RefreshService } from "../../src/broker/services/refresh-service.ts";
import { NexusError } from "../../src/shared/errors.ts";
import {
  fakeCredentialStore, oauthProvider, recordingAudit, recordingLogger, scriptedTokenEndpoint, seedConnection, testVault, tokenJson, virtualClock,
} from "../support/refresh-fakes.ts";

const settings = {
  instanceId: "broker-test", leaseSeconds: 60, providerTimeoutMs: 15_000, backoffSeconds: 10, giveUpDays: 4, marginSeconds: 300, minIntervalSeconds: 30,
};

function setup(options: { provider?: Provider | undefined; endpoints?: EndpointResolver } = {}) {
  const clock = virtualClock();
  const store = fakeCredentialStore(clock);
  const vault = testVault();
  const token = scriptedTokenEndpoint();
  const audit = recordingAudit();
  const log = recordingLogger();
  const metrics: string[] = [];
  const provider = "provider" in options ? options.provider : oauthProvider();
  let uuid = 0;
  const service: RefreshService = createRefreshService({
    connections: store,
    providers: { getById: async () => provider },
    endpoints: options.endpoints ?? { resolve: async (p) => ({ tokenEndpoint: p.tokenUrl, authMethod: "client_secret_basic" }) as never },
    sealer: vault,
    fetch: token.fetch,
    audit,
    metrics: { refresh: (status) => void metrics.push(status) },
    logger: log.logger,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    randomUUID: () => `00000000-0000-4000-8000-${String(++uuid).padStart(12, "0")}`,
    settings,
  });
  const seed = (refreshToken = "rt-1", ageSeconds?: number) => seedConnection(store, vault, clock, refreshToken, ageSeconds);
  const storedRefreshToken = (id: string) => vault.openText(store.rows.get(id)!.refreshCt!, { ...sealedFields.credentialRefreshToken, rowId: id });
  const accessToken = (id: string) => (JSON.parse(vault.openText(store.rows.get(id)!.secretCt, { ...sealedFields.credentialSecret, rowId: id })) as { access_token: string }).access_token;
  /** What the background loop's claim would hand over. */
  const claim = async (id: string): Promise<RefreshClaim> => {
    const lease = { id: `lease-${id.slice(0, 8)}-${clock.now()}`, owner: "broker-test", seconds: 60 };
    const claimed = await store.claimLease(id, lease);
    assert.ok(claimed !== undefined, "the fake claim succeeded");
    return { record: (await store.getCredential(id))!, providerId: "p1", lease, interrupted: claimed.interrupted };
  };
  return { clock, store, vault, token, audit, log, metrics, service, seed, storedRefreshToken, accessToken, claim };
}

async function rejectsWith(promise: Promise<unknown>, reason: string): Promise<NexusError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof NexusError, `expected NexusError ${reason}, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${reason}`);
}

describe("refresh service: the provider's answer is always written", () => {
  it("refresh() stores the rotated tokens, releases the lease and audits once", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    t.token.script.push(tokenJson({ access_token: "at-2", token_type: "bearer", expires_in: 3600, refresh_token: "rt-2" }));
    const record = await t.service.refresh(id, { trigger: "forced" });
    assert.equal(record.version, 2n);
    assert.equal(t.token.seen[0]!.get("refresh_token"), "rt-1");
    assert.equal(t.storedRefreshToken(id), "rt-2");
    assert.equal(t.accessToken(id), "at-2");
    const row = t.store.rows.get(id)!;
    assert.deepEqual([row.leaseId, row.leaseUntil, row.rotationStartedAt], [null, null, null]);
    assert.deepEqual(t.audit.events.map((e) => e.eventType), ["token.refreshed"]);
    assert.deepEqual(t.metrics, ["success"]);
  });

  it("refresh() names the caller and the registered agent it acts for in its audit events", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    t.token.script.push(tokenJson({ access_token: "at-2", expires_in: 3600, refresh_token: "rt-2" }));
    const agentId = "0b8f5d3e-6a1c-4f7e-9d2a-3c4b5a6d7e8f";
    await t.service.refresh(id, { trigger: "forced", caller: `agent:${agentId}`, agentId });
    assert.deepEqual(t.audit.events.map((e) => [e.eventType, e.caller, e.agentId]), [["token.refreshed", `agent:${agentId}`, agentId]]);
  });

  it("a database outage after the provider answered: the write is retried until it lands; nothing is lost", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    t.token.script.push(tokenJson({ access_token: "at-2", expires_in: 3600, refresh_token: "rt-2" }));
    // 40 failed writes at up to 5 s apart: well over a minute of outage, longer than the lease.
    t.store.faults.set("storeRefreshed", Array(40).fill("unavailable"));
    const started = t.clock.now();
    const record = await t.service.refresh(id, { trigger: "forced" });
    assert.equal(record.version, 2n);
    assert.equal(t.storedRefreshToken(id), "rt-2", "the rotated refresh token was kept");
    assert.ok(t.clock.now() - started > 60_000, `retried through ${(t.clock.now() - started) / 1000} s of outage`);
    assert.equal(t.token.seen.length, 1, "the provider was asked once");
    assert.ok(Math.max(...t.clock.slept) <= 7500, "waits between attempts stay bounded (5 s with jitter)");
    const warns = t.log.lines.filter((l) => l.level === "warn" && /store the refreshed tokens/.test(l.msg));
    assert.ok(warns.length >= 1 && warns.length <= 5, `logged at warn, not for every attempt (${warns.length})`);
    assert.ok(t.log.lines.some((l) => l.level === "info" && /written after 41 attempts/.test(l.msg)));
    assert.ok(!t.log.text().includes("rt-2") && !t.log.text().includes("at-2"), "no token in the log");
  });

  it("a write that committed but whose answer was lost is recognised as ours, not as a sibling's", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    t.token.script.push(tokenJson({ access_token: "at-2", expires_in: 3600, refresh_token: "rt-2" }));
    t.store.faults.set("storeRefreshed", ["commit-then-unavailable"]);
    const record = await t.service.refresh(id, { trigger: "forced" });
    assert.equal(record.version, 2n);
    assert.equal(t.storedRefreshToken(id), "rt-2");
    assert.ok(!t.log.lines.some((l) => /another refresh/.test(l.msg)), "not mistaken for a sibling's write");
    assert.equal(t.audit.events.filter((e) => e.eventType === "token.refreshed" && (e.details as { written: boolean }).written).length, 1);
  });

  it("a sibling's refresh stored first: that row wins, our lease is released, and it says so", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    const c = await t.claim(id);
    // The sibling wrote version 2 while our call was out (our lease had lapsed).
    const row = t.store.rows.get(id)!;
    Object.assign(row, { version: 2n, writtenByLease: "someone-else" });
    await t.service.refreshClaimed(c);
    assert.equal(row.version, 2n, "the sibling's tokens stay");
    assert.equal(row.leaseId, null, "our lease is given back");
    assert.ok(t.log.lines.some((l) => l.level === "warn" && /another refresh of this grant stored its tokens first/.test(l.msg)));
  });

  it("a caller that gives up does not abort the provider call; the answer is still written", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    let answer!: (r: Response) => void;
    t.token.script.push(new Promise<Response>((r) => (answer = r)));
    const caller = new AbortController();
    const waiting = t.service.refresh(id, { trigger: "forced", signal: caller.signal });
    while (t.token.seen.length === 0) await new Promise((r) => setImmediate(r));
    caller.abort(new Error("client went away"));
    await assert.rejects(waiting, /client went away/);
    assert.equal(t.token.signals[0]?.aborted ?? false, false, "the provider request was not aborted");
    answer(tokenJson({ access_token: "at-2", expires_in: 3600, refresh_token: "rt-2" }));
    assert.equal(await t.service.drain(30_000), 0);
    assert.equal(t.storedRefreshToken(id), "rt-2");
  });

  it("drain() waits for a refresh on the wire and writes its result; new refreshes are refused", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    const other = t.seed("rt-x");
    let answer!: (r: Response) => void;
    t.token.script.push(new Promise<Response>((r) => (answer = r)));
    const background = t.service.refreshClaimed(await t.claim(id));
    while (t.token.seen.length === 0) await new Promise((r) => setImmediate(r));
    const drained = t.service.drain(30_000);
    await rejectsWith(t.service.refresh(other, { trigger: "forced" }), "unavailable");
    answer(tokenJson({ access_token: "at-2", expires_in: 3600, refresh_token: "rt-2" }));
    assert.equal(await drained, 0);
    await background;
    assert.equal(t.storedRefreshToken(id), "rt-2");
    assert.equal(t.token.seen.length, 1, "the refused refresh never reached the provider");
  });

  it("drain() gives up at its deadline and says how many were still running, at error level", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    t.token.script.push(new Promise<Response>(() => {}));
    void t.service.refreshClaimed(await t.claim(id));
    while (t.token.seen.length === 0) await new Promise((r) => setImmediate(r));
    assert.equal(await t.service.drain(2000), 1);
    assert.ok(t.log.lines.some((l) => l.level === "error" && /drain deadline/.test(l.msg)));
  });

  it("a claimed refresh still in its start delay when the drain begins gives its lease back and calls nobody", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    const c = await t.claim(id);
    const task = t.service.refreshClaimed(c, 20);
    await t.service.drain(1000);
    await task;
    assert.equal(t.token.seen.length, 0);
    assert.equal(t.store.rows.get(id)!.leaseId, null);
  });

  it("concurrent callers share one refresh: one provider call", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    const results = await Promise.all(Array.from({ length: 20 }, () => t.service.refresh(id, { trigger: "forced" })));
    assert.equal(t.token.seen.length, 1);
    assert.ok(results.every((r) => r.version === 2n));
  });

  it("a claim whose answer was lost is released by the id the service chose", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    t.store.faults.set("claimLease", ["commit-then-unavailable"]);
    await rejectsWith(t.service.refresh(id, { trigger: "forced" }), "unavailable");
    await t.service.drain(5000);
    assert.equal(t.store.rows.get(id)!.leaseId, null, "no lease is left held");
    assert.equal(t.token.seen.length, 0);
  });
});

describe("refresh service: failures are classified and back off", () => {
  const cases: { name: string; answer: () => Response | Error; reason: string; keepsMark: boolean }[] = [
    { name: "an HTML 200", answer: () => new Response("<html>maintenance</html>", { status: 200, headers: { "content-type": "text/html" } }), reason: "invalid_token_response", keepsMark: true },
    { name: "a 503", answer: () => tokenJson({ error: "temporarily_unavailable" }, 503), reason: "temporarily_unavailable", keepsMark: false },
    { name: "invalid_client (the operator's to fix)", answer: () => tokenJson({ error: "invalid_client" }, 401), reason: "invalid_client", keepsMark: false },
    { name: "a timeout", answer: () => new DOMException("The operation timed out", "TimeoutError"), reason: "timeout", keepsMark: true },
  ];
  for (const c of cases) {
    it(`${c.name}: stays active, one failure counted, backs off, logged at warn with the provider`, async () => {
      const t = setup();
      const id = t.seed("rt-1");
      t.token.script.push(c.answer() as Response);
      const error = await rejectsWith(t.service.refresh(id, { trigger: "forced" }), "provider_unavailable");
      const row = t.store.rows.get(id)!;
      assert.equal(row.status, "active");
      assert.equal(row.failureCount, 1);
      assert.equal(row.lastError, c.reason);
      assert.equal(row.leaseId, null, "lease released");
      assert.equal(row.rotationStartedAt !== null, c.keepsMark, "the write-ahead mark is kept only when the token may have been rotated unheard");
      assert.ok(row.nextAttemptAt!.getTime() - t.clock.now() >= 8000, "backs off at least 8 s");
      assert.equal(error.retryAfterSeconds, 10);
      assert.ok(t.log.lines.some((l) => l.level === "warn" && l.provider === "acme" && l.error === c.reason));
      // Backing off: another on-demand read is refused without a provider call.
      Object.assign(row, { expiresAt: new Date(t.clock.now() - 1) });
      await rejectsWith(t.service.refresh(id, { trigger: "on_demand" }), "refresh_backoff");
      assert.equal(t.token.seen.length, 1);
    });
  }

  const before: { name: string; provider?: Provider | undefined; endpoints?: EndpointResolver; reason: string }[] = [
    { name: "discovery unreachable", endpoints: { resolve: async () => { throw new NexusError("provider_unavailable", "discovery failed"); } }, reason: "discovery_failed" },
    { name: "the provider was changed to api_key", provider: oauthProvider({ authType: "api_key" }), reason: "provider_not_oauth" },
    { name: "the provider is gone", provider: undefined, reason: "provider_missing" },
  ];
  for (const c of before) {
    it(`${c.name}: no token request, a counted failure with backoff, never a hot loop`, async () => {
      const t = setup({ ...("provider" in c ? { provider: c.provider } : {}), ...(c.endpoints === undefined ? {} : { endpoints: c.endpoints }) });
      const id = t.seed("rt-1");
      await t.service.refreshClaimed(await t.claim(id));
      const row = t.store.rows.get(id)!;
      assert.equal(t.token.seen.length, 0);
      assert.equal(row.failureCount, 1);
      assert.equal(row.lastError, c.reason);
      assert.equal(row.leaseId, null);
      assert.equal(row.rotationStartedAt, null, "nothing was sent, so no rotation is pending");
      assert.ok(row.nextAttemptAt!.getTime() > t.clock.now());
      assert.ok(t.log.lines.some((l) => l.level === "warn" && l.connection_id === id && l.reason === c.reason));
    });
  }

  it("backoff grows per failure and honours Retry-After", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      t.token.script.push(tokenJson({ error: "server_error" }, 500));
      await rejectsWith(t.service.refresh(id, { trigger: "forced" }), "provider_unavailable");
      const row = t.store.rows.get(id)!;
      waits.push((row.nextAttemptAt!.getTime() - t.clock.now()) / 1000);
      t.clock.advance(waits.at(-1)! * 1000);
    }
    assert.deepEqual(waits, [10, 20, 40]);
    t.token.script.push(new Response("{}", { status: 429, headers: { "retry-after": "600", "content-type": "application/json" } }));
    await rejectsWith(t.service.refresh(id, { trigger: "forced" }), "provider_unavailable");
    assert.equal((t.store.rows.get(id)!.nextAttemptAt!.getTime() - t.clock.now()) / 1000, 600);
  });

  it("invalid_grant makes the connection attention_required, audited, and only once", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    t.token.script.push(tokenJson({ error: "invalid_grant" }, 400));
    await rejectsWith(t.service.refresh(id, { trigger: "forced" }), "attention_required");
    const row = t.store.rows.get(id)!;
    assert.deepEqual([row.status, row.statusReason, row.leaseId], ["attention_required", "invalid_grant", null]);
    assert.deepEqual(t.audit.events.map((e) => e.eventType), ["token.refresh_failed", "connection.attention_required"]);
  });

  it("after an interrupted rotation, the stored token is tried once; a refusal says rotation_interrupted", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    // A Broker claimed it, may have sent the token, and died: its mark is still on the row and its lease lapsed.
    Object.assign(t.store.rows.get(id)!, { rotationStartedAt: new Date(t.clock.now() - 120_000), leaseId: "dead", leaseUntil: new Date(t.clock.now() - 60_000) });
    t.token.script.push(tokenJson({ error: "invalid_grant" }, 400));
    const error = await rejectsWith(t.service.refresh(id, { trigger: "forced" }), "attention_required");
    assert.match(error.message, /interrupted/);
    assert.equal(t.token.seen.length, 1, "tried once with the stored token");
    assert.equal(t.store.rows.get(id)!.statusReason, "rotation_interrupted");
  });

  it("after an interrupted rotation, a provider that still accepts the stored token recovers the grant", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    Object.assign(t.store.rows.get(id)!, { rotationStartedAt: new Date(t.clock.now() - 120_000) });
    const record = await t.service.refresh(id, { trigger: "forced" });
    assert.equal(record.version, 2n);
    assert.equal(t.store.rows.get(id)!.rotationStartedAt, null);
  });

  it("a new token that lives 0 s is refreshed no sooner than the minimum interval, and the quirk is logged", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    t.token.script.push(tokenJson({ access_token: "at-0", expires_in: 0, refresh_token: "rt-2" }));
    await t.service.refresh(id, { trigger: "forced" });
    assert.equal(t.store.rows.get(id)!.dueInSeconds, 30, "due after the 30 s minimum, not at once");
    assert.ok(t.log.lines.some((l) => l.level === "warn" && /provider quirk/.test(l.msg) && l.expires_in_s === 0));
    // Reads within the minimum interval get the stored token without asking the provider again.
    for (let i = 0; i < 50; i++) await t.service.refresh(id, { trigger: "on_demand" });
    assert.equal(t.token.seen.length, 1);
    t.clock.advance(31_000);
    await t.service.refresh(id, { trigger: "on_demand" });
    assert.equal(t.token.seen.length, 2, "after the interval, an expired token is refreshed again");
  });

  it("a refresh that lands after a sibling marked the connection attention_required revives it", async () => {
    const t = setup();
    const id = t.seed("rt-1");
    t.token.script.push(tokenJson({ access_token: "at-2", expires_in: 3600, refresh_token: "rt-2" }));
    t.store.faults.set("storeRefreshed", ["unavailable"]);
    const c = await t.claim(id);
    const task = t.service.refreshClaimed(c);
    while (!t.store.calls.some((call) => call.method === "storeRefreshed")) await new Promise((r) => setImmediate(r));
    Object.assign(t.store.rows.get(id)!, { status: "attention_required", statusReason: "invalid_grant" });
    await task;
    assert.equal(t.store.rows.get(id)!.status, "active");
    assert.ok(t.audit.events.some((e) => e.eventType === "connection.reactivated"));
  });
});

describe("refresh service: narrow()", () => {
  it("narrow() asks for the scopes, stores the rotated refresh token and leaves the access token and its schedule alone", async () => {
    const t = setup();
    const id = t.seed("rt-1", 20);
    const row = t.store.rows.get(id)!;
    Object.assign(row, { expiresAt: new Date(t.clock.now() + 40_000), dueInSeconds: 20 });
    const before = { refreshedAt: row.refreshedAt, expiresAt: row.expiresAt, dueInSeconds: row.dueInSeconds };
    t.token.script.push(tokenJson({ access_token: "at-narrow", token_type: "Bearer", expires_in: 3600, scope: "openid", refresh_token: "rt-2" }));
    const tokens = await t.service.narrow(id, ["openid"], { caller: "agent:b", agentId: "b" });
    assert.equal(tokens.accessToken, "at-narrow");
    assert.equal(t.token.seen[0]!.get("scope"), "openid");
    assert.equal(t.storedRefreshToken(id), "rt-2");
    assert.equal(t.accessToken(id), "at-old");
    const after = t.store.rows.get(id)!;
    // A sub-agent exchanging often must not keep postponing the connection's own refresh.
    assert.deepEqual({ refreshedAt: after.refreshedAt, expiresAt: after.expiresAt, dueInSeconds: after.dueInSeconds }, before);
    assert.equal(after.leaseId, null);
  });
});
