/**
 * FAKES for unit tests of the refresh service, and for fault injection only:
 * an in-memory credential store that mirrors the SQL of
 * connection-repository.ts (compare-and-set on version, leases by id, the
 * write-ahead mark), a scripted token endpoint, a virtual clock whose sleep
 * advances time, and a log that keeps lines. The real store is tested against
 * PostgreSQL in test/e2e/refresh-*.test.ts.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Connection, CredentialRecord } from "../../src/broker/domain/connection.ts";
import type { AuditEventInput, AuditLog, ConnectionStore, LeaseRef, NewCredential } from "../../src/broker/domain/ports.ts";
import { defaultProviderParams, type Provider } from "../../src/broker/domain/provider.ts";
import { sealedFields } from "../../src/broker/domain/sealed-fields.ts";
import type { RefreshServiceDeps } from "../../src/broker/services/refresh-service.ts";
import { createKeyRing } from "../../src/broker/vault/key-ring.ts";
import { createVault, type Vault } from "../../src/broker/vault/vault.ts";
import { NexusError } from "../../src/shared/errors.ts";
import { createLogger } from "../../src/shared/logger.ts";

type Store = RefreshServiceDeps["connections"];
type Method = keyof Store;

/** A fault to inject in the next call of a store method. */
export type StoreFault = "unavailable" | "commit-then-unavailable";

/** A virtual clock: `sleep` moves time forward and yields to the event loop once. */
export interface VirtualClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  advance(ms: number): void;
  readonly slept: number[];
}

export function virtualClock(start = Date.parse("2026-12-01T00:00:00Z")): VirtualClock {
  let t = start;
  const slept: number[] = [];
  return {
    now: () => t,
    async sleep(ms) {
      slept.push(ms);
      t += ms;
      await new Promise((r) => setImmediate(r));
    },
    advance(ms) {
      t += ms;
    },
    slept,
  };
}

/** The in-memory store and what it lets a test see and break. */
export interface FakeCredentialStore extends Store {
  readonly rows: Map<string, CredentialRecord & { status: string; statusReason: string; dueInSeconds: number | null }>;
  /** Faults for the next calls of a method, in order. */
  readonly faults: Map<Method, StoreFault[]>;
  readonly calls: { method: Method; args: unknown[] }[];
}

export function fakeCredentialStore(clock: VirtualClock): FakeCredentialStore {
  const rows: FakeCredentialStore["rows"] = new Map();
  const faults = new Map<Method, StoreFault[]>();
  const calls: FakeCredentialStore["calls"] = [];
  const unavailable = () => new NexusError("unavailable", "the database is not reachable; try again shortly");
  const mustRow = (id: string) => rows.get(id);
  /** Runs `apply` unless a fault says otherwise; `commit-then-unavailable` applies and then fails. */
  async function call<T>(method: Method, args: unknown[], apply: () => T): Promise<T> {
    calls.push({ method, args });
    await Promise.resolve();
    const fault = faults.get(method)?.shift();
    if (fault === "unavailable") throw unavailable();
    const result = apply();
    if (fault === "commit-then-unavailable") throw unavailable();
    return result;
  }
  const clearLease = { leaseOwner: null, leaseId: null, leaseUntil: null };
  const store: Store = {
    get: (id) => call("get", [id], () => {
      const r = mustRow(id);
      return r === undefined ? undefined : ({ id, providerId: "p1", status: r.status, statusReason: r.statusReason } as unknown as Connection);
    }),
    getCredential: (id) => call("getCredential", [id], () => {
      const r = mustRow(id);
      return r === undefined ? undefined : { ...r };
    }),
    claimLease: (id, lease) => call("claimLease", [id, lease], () => {
      const r = mustRow(id);
      if (r === undefined || (r.leaseUntil !== null && r.leaseUntil.getTime() >= clock.now())) return undefined;
      const interrupted = r.rotationStartedAt !== null;
      Object.assign(r, { leaseOwner: lease.owner, leaseId: lease.id, leaseUntil: new Date(clock.now() + lease.seconds * 1000), rotationStartedAt: new Date(clock.now()) });
      return { version: r.version, interrupted };
    }),
    storeRefreshed: (id, lease: LeaseRef, expected, cred: NewCredential) => call("storeRefreshed", [id, lease, expected, cred], () => {
      const r = mustRow(id);
      if (r === undefined || r.version !== expected) return undefined;
      const life = cred.expiresInSeconds ?? null;
      const due = life === null || cred.refreshCt === null ? null : Math.max(cred.minRefreshIntervalSeconds, life - Math.min(cred.refreshMarginSeconds, life / 3));
      const schedule = cred.keepSchedule === true ? {}
        : { refreshedAt: new Date(clock.now()), expiresAt: life === null ? null : new Date(clock.now() + life * 1000), dueInSeconds: due };
      Object.assign(r, {
        ...clearLease, keyId: cred.keyId, secretCt: cred.secretCt, refreshCt: cred.refreshCt, version: r.version + 1n, writtenByLease: lease.id,
        ...schedule, rotationStartedAt: null, failureCount: 0, failingSince: null, nextAttemptAt: null, lastError: "",
      });
      let revived = false;
      if (r.status === "attention_required" && ["invalid_grant", "unauthorized_client", "rotation_interrupted"].includes(r.statusReason)) {
        Object.assign(r, { status: "active", statusReason: "" });
        revived = true;
      }
      return { record: { ...r }, revived };
    }),
    releaseLease: (id, lease) => call("releaseLease", [id, lease], () => {
      const r = mustRow(id);
      if (r?.leaseId === lease.id) Object.assign(r, { ...clearLease, rotationStartedAt: null });
    }),
    recordRefreshFailure: (id, lease, failure) => call("recordRefreshFailure", [id, lease, failure], () => {
      const r = mustRow(id);
      if (r === undefined || r.leaseId !== lease.id) return undefined;
      Object.assign(r, {
        ...clearLease, failureCount: r.failureCount + 1, failingSince: r.failingSince ?? new Date(clock.now()),
        nextAttemptAt: new Date(clock.now() + failure.retryInSeconds * 1000), lastError: failure.error,
        rotationStartedAt: failure.keepMark ? r.rotationStartedAt : null,
      });
      return { failureCount: r.failureCount, failingSince: r.failingSince! };
    }),
    requireAttention: (id, reason, version) => call("requireAttention", [id, reason, version], () => {
      const r = mustRow(id);
      if (r === undefined || r.status !== "active" || r.version !== version) return false;
      Object.assign(r, { ...clearLease, status: "attention_required", statusReason: reason, dueInSeconds: null, rotationStartedAt: null });
      return true;
    }),
  } satisfies Pick<ConnectionStore, Method>;
  return Object.assign(store, { rows, faults, calls });
}

/** A vault with a fresh random key. */
export function testVault(): Vault {
  return createVault(createKeyRing(new Map([["k1", new Uint8Array(randomBytes(32))]]), "k1"));
}

/** Adds an active OAuth connection whose refresh token is `refreshToken`, refreshed `ageSeconds` ago. */
export function seedConnection(store: FakeCredentialStore, vault: Vault, clock: VirtualClock, refreshToken: string, ageSeconds = 3600): string {
  const id = randomUUID();
  store.rows.set(id, {
    connectionId: id, keyId: "k1", status: "active", statusReason: "", dueInSeconds: 0,
    secretCt: vault.seal(JSON.stringify({ access_token: "at-old", token_type: "Bearer" }), { ...sealedFields.credentialSecret, rowId: id }),
    refreshCt: vault.seal(refreshToken, { ...sealedFields.credentialRefreshToken, rowId: id }),
    expiresAt: new Date(clock.now() - 1000), version: 1n, refreshedAt: new Date(clock.now() - ageSeconds * 1000), refreshDueAt: new Date(clock.now()),
    leaseOwner: null, leaseId: null, leaseUntil: null, rotationStartedAt: null, writtenByLease: null,
    failureCount: 0, failingSince: null, nextAttemptAt: null, lastError: "",
  });
  return id;
}

/** An OAuth provider as the store would return it. */
export function oauthProvider(overrides: Partial<Provider> = {}): Provider {
  return {
    id: "p1", name: "acme", authType: "oauth2", clientId: "client", clientSecretCt: null, keyId: null,
    issuer: "", enableDiscovery: false, authUrl: "https://idp.example/authorize", tokenUrl: "https://idp.example/token",
    scopes: [], params: defaultProviderParams, description: "", category: "", apiBaseUrl: "", userInfoEndpoint: "", aliases: [], revocationUrl: "", template: "", templateValues: {},
    createdAt: new Date(0), updatedAt: new Date(0), deletedAt: null, version: 1n, ...overrides,
  };
}

/** One scripted token endpoint answer: a Response, a promise of one (to hold it), or an error to throw. */
export type TokenAnswer = Response | Promise<Response> | Error;

/** A token endpoint that answers from a script and records what it was sent. */
export function scriptedTokenEndpoint(): { fetch: RefreshServiceDeps["fetch"]; script: TokenAnswer[]; seen: URLSearchParams[]; signals: (AbortSignal | null | undefined)[] } {
  const script: TokenAnswer[] = [];
  const seen: URLSearchParams[] = [];
  const signals: (AbortSignal | null | undefined)[] = [];
  const fetch = async (_url: string | URL | Request, init?: RequestInit) => {
    seen.push(new URLSearchParams(String(init?.body ?? "")));
    signals.push(init?.signal);
    const next = script.shift() ?? tokenJson({ access_token: `at-${randomUUID()}`, token_type: "Bearer", expires_in: 3600, refresh_token: `rt-${randomUUID()}` });
    if (next instanceof Error) throw next;
    return next;
  };
  return { fetch: fetch as RefreshServiceDeps["fetch"], script, seen, signals };
}

/** A JSON token endpoint answer. */
export function tokenJson(body: Record<string, unknown>, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** An audit log that keeps events. */
export function recordingAudit(): AuditLog & { events: AuditEventInput[] } {
  const events: AuditEventInput[] = [];
  return { events, record: (e) => void events.push(e), recordNow: async (e) => void events.push(e) };
}

/** A logger that keeps parsed lines. */
export function recordingLogger(): { logger: ReturnType<typeof createLogger>; lines: { level: string; msg: string; [k: string]: unknown }[]; text: () => string } {
  const raw: string[] = [];
  const logger = createLogger({ level: "debug", write: (l) => void raw.push(l) });
  return {
    logger,
    get lines() {
      return raw.map((l) => JSON.parse(l) as { level: string; msg: string });
    },
    text: () => raw.join(""),
  };
}
