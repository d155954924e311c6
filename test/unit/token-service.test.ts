/**
 * The token service (GetToken, RefreshToken, ResolveToken) as a unit, driven
 * with FAKES: in-memory connection and provider stores that count their
 * reads, a fake sealer that checks each value is opened in the context it was
 * sealed for, a fake refresher that writes a new access token, and an
 * injected clock. Fakes are right here: this tests the service's own rules
 * (who may read, which status answers, when to refresh, what is cached and
 * audited). The real stores, vault and refresh engine are tested on their own
 * and together in test/e2e/token-cache.test.ts, broker-*.test.ts and
 * agent-isolation.test.ts.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import type { Connection, ConnectionStatus, CredentialRecord } from "../../src/broker/domain/connection.ts";
import type { SealContext } from "../../src/broker/domain/ports.ts";
import type { Principal } from "../../src/broker/domain/principal.ts";
import { defaultProviderParams, type Provider } from "../../src/broker/domain/provider.ts";
import { sealedFields } from "../../src/broker/domain/sealed-fields.ts";
import { createCredentialCache } from "../../src/broker/services/credential-cache.ts";
import type { RefreshOptions } from "../../src/broker/services/refresh-service.ts";
import { createTokenService, type TokenServiceDeps } from "../../src/broker/services/token-service.ts";
import { NexusError } from "../../src/shared/errors.ts";
import { recordingAudit } from "../support/refresh-fakes.ts";

const operator: Principal = { kind: "operator", label: "ops-key" };
const agentA: Principal = { kind: "agent", label: "agent-a", agentId: "a", allowedProviders: [] };
const agentB: Principal = { kind: "agent", label: "agent-b", agentId: "b", allowedProviders: [] };
const workspace = "ws-1";

/** A sealer that keeps the plaintext readable only in the context it was sealed for. */
function fakeSealer() {
  const label = (c: SealContext) => `${c.table}.${c.field}.${c.rowId}`;
  const opened: string[] = [];
  return {
    opened,
    seal: (plaintext: string, context: SealContext) => `sealed:${label(context)}:${btoa(plaintext)}`,
    openText(ciphertext: string, context: SealContext): string {
      const prefix = `sealed:${label(context)}:`;
      // Like the vault's AAD: a value opened as another row's or field's fails.
      if (!ciphertext.startsWith(prefix)) throw new Error("fake sealer: wrong context");
      opened.push(label(context));
      return atob(ciphertext.slice(prefix.length));
    },
  };
}

function provider(overrides: Partial<Provider> = {}): Provider {
  return {
    id: randomUUID(), name: "acme", authType: "oauth2", clientId: "client", clientSecretCt: null, keyId: null,
    issuer: "", enableDiscovery: false, authUrl: "https://idp.example/authorize", tokenUrl: "https://idp.example/token",
    scopes: [], params: defaultProviderParams, description: "", category: "", apiBaseUrl: "", userInfoEndpoint: "", aliases: [], revocationUrl: "", template: "", templateValues: {},
    createdAt: new Date(0), updatedAt: new Date(0), deletedAt: null, version: 1n, ...overrides,
  };
}

function setup(options: { cache?: "trusted" | "untrusted" | "none" } = {}) {
  let t = Date.parse("2026-12-01T00:00:00Z");
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) };
  const sealer = fakeSealer();
  const connections = new Map<string, Connection>();
  const credentials = new Map<string, CredentialRecord>();
  const providers = new Map<string, Provider>();
  const reads: string[] = [];
  const metrics: string[] = [];
  const audit = recordingAudit();
  const refreshes: { id: string; options: RefreshOptions }[] = [];
  let refreshFailure: Error | undefined;

  /** A credential whose access token was issued `ageMs` ago and lives `lifetimeMs` (null: never expires). */
  function credential(id: string, accessToken: string, o: { lifetimeMs?: number | null; ageMs?: number; refreshToken?: string | null } = {}): CredentialRecord {
    const lifetime = o.lifetimeMs === undefined ? 3_600_000 : o.lifetimeMs;
    const issued = clock.now() - (o.ageMs ?? 0);
    const refreshToken = o.refreshToken === undefined ? "rt-secret-1" : o.refreshToken;
    return {
      connectionId: id, keyId: "k1", version: 1n,
      secretCt: sealer.seal(JSON.stringify({ access_token: accessToken, token_type: "Bearer" }), { ...sealedFields.credentialSecret, rowId: id }),
      refreshCt: refreshToken === null ? null : sealer.seal(refreshToken, { ...sealedFields.credentialRefreshToken, rowId: id }),
      expiresAt: lifetime === null ? null : new Date(issued + lifetime), refreshedAt: new Date(issued), refreshDueAt: null,
      leaseOwner: null, leaseId: null, leaseUntil: null, rotationStartedAt: null, writtenByLease: null,
      failureCount: 0, failingSince: null, nextAttemptAt: null, lastError: "",
    };
  }

  /** Adds a connection (active, started by agent A, to a fresh OAuth provider, token just issued) and returns its id. */
  function seed(o: {
    status?: ConnectionStatus; agentId?: string | null; provider?: Provider; accessToken?: string;
    lifetimeMs?: number | null; ageMs?: number; refreshToken?: string | null; createdAt?: Date;
  } = {}): string {
    const id = randomUUID();
    const p = o.provider ?? provider();
    providers.set(p.id, p);
    connections.set(id, {
      id, workspaceId: workspace, providerId: p.id, status: o.status ?? "active", statusReason: "", scopes: [], grantedScopes: [],
      returnUrl: "https://app.example/done", createdBy: "someone", agentId: o.agentId === undefined ? "a" : o.agentId,
      createdAt: o.createdAt ?? new Date(clock.now()), updatedAt: new Date(clock.now()), pendingUntil: null, version: 1n,
    });
    credentials.set(id, credential(id, o.accessToken ?? "at-secret-1", o));
    return id;
  }

  const cache = createCredentialCache({ now: clock.now, ttlMs: 60_000, maxEntries: 100 });
  if (options.cache !== "untrusted") cache.trust(true);
  const deps: TokenServiceDeps = {
    connections: {
      get: async (id) => (reads.push(`connection:${id}`), connections.get(id)),
      getCredential: async (id) => (reads.push(`credential:${id}`), credentials.get(id)),
      async newestActive(ws, name, agentId) {
        reads.push(`newest:${ws}/${name}`);
        const found = [...connections.values()]
          .filter((c) => c.workspaceId === ws && c.status === "active" && providers.get(c.providerId)?.name === name)
          .filter((c) => agentId === undefined || c.agentId === agentId)
          .sort((x, y) => y.createdAt.getTime() - x.createdAt.getTime());
        return found[0];
      },
    },
    providers: {
      getById: async (id, o) => {
        const p = providers.get(id);
        return p !== undefined && (p.deletedAt === null || o?.includeDeleted === true) ? p : undefined;
      },
      getByName: async (name) => [...providers.values()].find((p) => p.name === name && p.deletedAt === null),
    },
    sealer,
    refresher: {
      async refresh(id, refreshOptions) {
        refreshes.push({ id, options: refreshOptions });
        if (refreshFailure !== undefined) throw refreshFailure;
        const next = { ...credential(id, `at-refreshed-${refreshes.length}`), version: credentials.get(id)!.version + 1n };
        credentials.set(id, next);
        return next;
      },
    },
    audit,
    metrics: {
      tokenGet: (p, status) => void metrics.push(`get:${p}:${status}`),
      tokenCacheLookup: (result) => void metrics.push(`cache:${result}`),
    },
    now: clock.now,
    ...(options.cache === "none" ? {} : { cache }),
  };
  const service = createTokenService(deps);
  const accessToken = (payload: { credentials: Readonly<Record<string, string>> }) => payload.credentials.access_token;
  return {
    clock, sealer, connections, credentials, providers, reads, metrics, audit, refreshes, cache, service, seed, accessToken,
    failRefreshWith: (e: Error) => void (refreshFailure = e),
  };
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

describe("createTokenService(): get", () => {
  it("get() on a miss reads the connection and its credential, opens the secret in its own context, and caches the answer", async () => {
    const t = setup();
    const id = t.seed();
    const payload = await t.service.get(id, agentA);
    assert.equal(t.accessToken(payload), "at-secret-1");
    assert.deepEqual(payload.strategy, { type: "oauth2", config: {} });
    assert.equal(payload.expiresAt, Math.floor(t.clock.now() / 1000) + 3600);
    assert.deepEqual(t.reads, [`connection:${id}`, `credential:${id}`]);
    assert.deepEqual(t.sealer.opened, [`credentials.secret.${id}`], "only the agent-facing secret is opened, never the refresh token");
    assert.deepEqual(t.metrics, ["cache:miss", "get:acme:success"]);
    assert.equal(t.cache.size, 1);
  });

  it("get() on a hit answers from memory: no store read, no decryption, same credential", async () => {
    const t = setup();
    const id = t.seed();
    await t.service.get(id, agentA);
    t.reads.length = 0;
    t.sealer.opened.length = 0;
    const payload = await t.service.get(id, agentA);
    assert.equal(t.accessToken(payload), "at-secret-1");
    assert.deepEqual(t.reads, []);
    assert.deepEqual(t.sealer.opened, []);
    assert.deepEqual(t.metrics.slice(-2), ["cache:hit", "get:acme:success"]);
  });

  it("get() writes one token.read audit event per read, cache hits included, naming the caller and its agent", async () => {
    const t = setup();
    const id = t.seed();
    for (let i = 0; i < 3; i++) await t.service.get(id, agentA);
    const reads = t.audit.events.filter((e) => e.eventType === "token.read");
    assert.equal(reads.length, 3);
    for (const e of reads) {
      assert.deepEqual(e, {
        eventType: "token.read", connectionId: id, providerId: [...t.providers.keys()][0], providerName: "acme", caller: "agent-a", agentId: "a", outcome: "success",
      });
    }
  });

  it("get() with an untrusted cache reads the database every time and keeps nothing", async () => {
    const t = setup({ cache: "untrusted" });
    const id = t.seed();
    await t.service.get(id, operator);
    await t.service.get(id, operator);
    assert.equal(t.reads.filter((r) => r.startsWith("credential:")).length, 2);
    assert.equal(t.cache.size, 0);
    assert.deepEqual(t.metrics.filter((m) => m.startsWith("cache:")), ["cache:untrusted", "cache:untrusted"]);
  });

  it("get() without a cache reads the database every time", async () => {
    const t = setup({ cache: "none" });
    const id = t.seed();
    await t.service.get(id, operator);
    await t.service.get(id, operator);
    assert.equal(t.reads.filter((r) => r.startsWith("credential:")).length, 2);
    assert.ok(!t.metrics.some((m) => m.startsWith("cache:")), "no cache lookup is counted");
  });

  it("get() refreshes an expired access token on demand, naming the caller, and answers the new one", async () => {
    const t = setup();
    const id = t.seed({ lifetimeMs: 3_600_000, ageMs: 3_600_001 });
    const payload = await t.service.get(id, agentA);
    assert.equal(t.accessToken(payload), "at-refreshed-1");
    assert.deepEqual(t.refreshes, [{ id, options: { trigger: "on_demand", caller: "agent-a", agentId: "a" } }]);
  });

  it("get() serves a cached token until reading it would refresh it, then refreshes on demand", async () => {
    const t = setup();
    // A 10-minute token: reading it starts to refresh it 30 s before it expires; the cache keeps it 60 s at most.
    const id = t.seed({ lifetimeMs: 600_000 });
    await t.service.get(id, agentA);
    t.clock.advance(50_000);
    assert.equal(t.accessToken(await t.service.get(id, agentA)), "at-secret-1");
    assert.equal(t.refreshes.length, 0);
    t.clock.advance(600_000 - 30_000 - 50_000);
    assert.equal(t.accessToken(await t.service.get(id, agentA)), "at-refreshed-1");
    assert.deepEqual(t.refreshes.map((r) => r.options.trigger), ["on_demand"]);
  });

  it("get() answers an expired token that has no refresh token as it is, and never caches it", async () => {
    const t = setup();
    const id = t.seed({ lifetimeMs: 60_000, ageMs: 120_000, refreshToken: null });
    const payload = await t.service.get(id, operator);
    assert.equal(t.accessToken(payload), "at-secret-1");
    assert.deepEqual(t.refreshes, []);
    assert.equal(t.cache.size, 0);
  });

  it("get() never refreshes a static credential, whatever its age", async () => {
    const t = setup();
    const strategy = { type: "header", config: { header_name: "authorization", credential_field: "api_key" } };
    const apiKey = provider({ name: "stripe", authType: "api_key", params: { ...defaultProviderParams, authStrategy: strategy } });
    const id = t.seed({ provider: apiKey, lifetimeMs: null, refreshToken: null });
    t.clock.advance(365 * 86_400_000);
    const payload = await t.service.get(id, operator);
    assert.equal(payload.strategy.type, "header");
    assert.equal(payload.expiresAt, undefined);
    assert.deepEqual(t.refreshes, []);
  });

  for (const [status, reason] of [
    ["attention_required", "attention_required"],
    ["revoked", "connection_revoked"],
    ["pending", "connection_pending"],
    ["failed", "connection_failed"],
  ] as const) {
    it(`get() refuses a ${status} connection with ${reason}, opens nothing, and audits the failure`, async () => {
      const t = setup();
      const id = t.seed({ status });
      await rejectsWith(t.service.get(id, agentA), reason);
      assert.deepEqual(t.sealer.opened, []);
      assert.equal(t.cache.size, 0);
      const event = t.audit.events.at(-1)!;
      assert.deepEqual(
        { type: event.eventType, outcome: event.outcome, reason: event.reason, connectionId: event.connectionId },
        { type: "token.read", outcome: "failure", reason, connectionId: id },
      );
      assert.equal(t.metrics.at(-1), "get:unknown:error");
    });
  }

  it("get() stops answering from the cache once the connection is revoked and the entry invalidated", async () => {
    const t = setup();
    const id = t.seed();
    await t.service.get(id, agentA);
    t.connections.set(id, { ...t.connections.get(id)!, status: "revoked" });
    t.cache.invalidate(id);
    await rejectsWith(t.service.get(id, agentA), "connection_revoked");
  });

  it("get() keeps serving a connection whose provider was soft-deleted: existing connections keep working", async () => {
    const t = setup();
    const id = t.seed({ provider: provider({ deletedAt: new Date(0) }) });
    assert.equal(t.accessToken(await t.service.get(id, agentA)), "at-secret-1");
  });

  it("get() answers connection_not_found for an unknown connection and for one whose provider row is gone", async () => {
    const t = setup();
    await rejectsWith(t.service.get(randomUUID(), operator), "connection_not_found");
    const id = t.seed();
    t.providers.clear();
    await rejectsWith(t.service.get(id, operator), "connection_not_found");
  });

  it("get() refuses an agent another agent's connection, before saying anything about its status", async () => {
    const t = setup();
    const active = t.seed({ agentId: "a" });
    const revoked = t.seed({ agentId: "a", status: "revoked" });
    await rejectsWith(t.service.get(active, agentB), "agent_not_authorized");
    await rejectsWith(t.service.get(revoked, agentB), "agent_not_authorized");
    assert.deepEqual(t.sealer.opened, []);
    assert.equal(t.audit.events.at(-1)!.agentId, "b");
    assert.equal(t.audit.events.at(-1)!.reason, "agent_not_authorized");
  });

  it("get() refuses an agent another agent's connection on a cache hit too", async () => {
    const t = setup();
    const id = t.seed({ agentId: "a" });
    await t.service.get(id, agentA);
    await rejectsWith(t.service.get(id, agentB), "agent_not_authorized");
    assert.equal(t.metrics.at(-2), "cache:hit", "the refusal came from the cached entry's owner");
    assert.equal(t.accessToken(await t.service.get(id, operator)), "at-secret-1", "operators use every connection");
  });

  it("get() refuses a connection id that is not a UUID before any read", async () => {
    const t = setup();
    await rejectsWith(t.service.get("../etc/passwd", operator), "invalid_argument");
    assert.deepEqual(t.reads, []);
  });
});

describe("createTokenService(): refresh and resolve", () => {
  it("refresh() always goes to the refresher (trigger forced), never to the cache, and audits token.refreshed_on_request", async () => {
    const t = setup();
    const id = t.seed();
    await t.service.get(id, agentA);
    const payload = await t.service.refresh(id, agentA);
    assert.equal(t.accessToken(payload), "at-refreshed-1");
    assert.deepEqual(t.refreshes.map((r) => r.options.trigger), ["forced"]);
    assert.equal(t.audit.events.at(-1)!.eventType, "token.refreshed_on_request");
    assert.equal(t.audit.events.at(-1)!.outcome, "success");
  });

  it("refresh() of a static credential answers not_refreshable without calling the refresher", async () => {
    const t = setup();
    const basic = provider({ authType: "basic_auth", params: { ...defaultProviderParams, authStrategy: { type: "basic_auth", config: {} } } });
    const id = t.seed({ provider: basic, refreshToken: null });
    await rejectsWith(t.service.refresh(id, operator), "not_refreshable");
    assert.deepEqual(t.refreshes, []);
  });

  it("refresh() passes the refresher's refusal on and audits its reason", async () => {
    const t = setup();
    const id = t.seed();
    t.failRefreshWith(new NexusError("attention_required", "the user must reconnect (invalid_grant)"));
    await rejectsWith(t.service.refresh(id, operator), "attention_required");
    assert.equal(t.audit.events.at(-1)!.reason, "attention_required");
  });

  it("resolve() answers the workspace's newest active connection to a provider, through the cache", async () => {
    const t = setup();
    const p = provider({ name: "github" });
    t.seed({ provider: p, accessToken: "at-older", createdAt: new Date(1000) });
    const newest = t.seed({ provider: p, accessToken: "at-newer", createdAt: new Date(2000) });
    const first = await t.service.resolve(workspace, "github", operator);
    assert.equal(first.connectionId, newest);
    assert.equal(t.accessToken(first.payload), "at-newer");
    t.sealer.opened.length = 0;
    await t.service.resolve(workspace, "github", operator);
    assert.deepEqual(t.sealer.opened, [], "the second resolve was a cache hit");
  });

  it("resolve() for a registered agent finds only connections that agent started", async () => {
    const t = setup();
    const p = provider({ name: "github" });
    const mine = t.seed({ provider: p, agentId: "a", createdAt: new Date(1000) });
    t.seed({ provider: p, agentId: "b", accessToken: "at-planted", createdAt: new Date(2000) });
    const found = await t.service.resolve(workspace, "github", agentA);
    assert.equal(found.connectionId, mine);
    t.seed({ provider: provider({ name: "slack" }), agentId: "b" });
    await rejectsWith(t.service.resolve(workspace, "slack", agentA), "connection_not_found");
  });

  it("resolve() labels the metric of a miss with a registered name or unknown, never the caller's text", async () => {
    const t = setup();
    t.seed({ provider: provider({ name: "github" }), status: "revoked" });
    await rejectsWith(t.service.resolve(workspace, "github", operator), "connection_not_found");
    await rejectsWith(t.service.resolve(workspace, "made-up-name", operator), "connection_not_found");
    assert.deepEqual(t.metrics, ["get:github:error", "get:unknown:error"]);
  });
});

describe("createTokenService(): no secret leaves in an error or an audit event", () => {
  it("no access token, refresh token or ciphertext appears in any error, audit event or metric label", async () => {
    const t = setup();
    const secrets = ["at-secret-1", "rt-secret-1", "at-refreshed", "sealed:"];
    const failures: unknown[] = [];
    const catching = async (p: Promise<unknown>) => p.catch((e: unknown) => void failures.push(e));
    const ids = {
      ok: t.seed(), other: t.seed({ agentId: "b" }), revoked: t.seed({ status: "revoked" }), attention: t.seed({ status: "attention_required" }),
    };
    await t.service.get(ids.ok, agentA);
    await t.service.refresh(ids.ok, agentA);
    await catching(t.service.get(ids.other, agentA));
    await catching(t.service.get(ids.revoked, agentA));
    await catching(t.service.get(ids.attention, agentA));
    t.failRefreshWith(new NexusError("provider_unavailable", "the provider answered 503; try again"));
    await catching(t.service.refresh(ids.ok, agentA));
    assert.equal(failures.length, 4);
    const seen = JSON.stringify({
      errors: failures.map((e) => ({ message: (e as Error).message, ...(e as object) })),
      audit: t.audit.events,
      metrics: t.metrics,
    });
    for (const secret of secrets) assert.ok(!seen.includes(secret), `"${secret}" leaked: ${seen}`);
  });

  it("the answer never carries the refresh token", async () => {
    const t = setup();
    const id = t.seed({ refreshToken: "rt-must-stay" });
    const payload = await t.service.get(id, operator);
    assert.ok(!JSON.stringify(payload).includes("rt-must-stay"));
    assert.deepEqual(Object.keys(payload.credentials).sort(), ["access_token", "token_type"]);
  });
});
