import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, beforeEach, describe, it } from "node:test";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { Registry } from "prom-client";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { AuditService as AuditServiceDesc } from "../../gen/nexus/broker/v1/audit_service_pb.ts";
import type { AuditEventInput, AuditStore } from "../../src/broker/domain/ports.ts";
import { createAuditHandlers } from "../../src/broker/handlers/audit-handlers.ts";
import { createAuditMetrics } from "../../src/broker/metrics/audit-metrics.ts";
import { createAuditRepository } from "../../src/broker/repositories/audit-repository.ts";
import { type AuditService, type AuditServiceDeps, createAuditService } from "../../src/broker/services/audit-service.ts";
import { createErrorInterceptor } from "../../src/shared/connect-errors.ts";
import { NexusError } from "../../src/shared/errors.ts";
import { type Logger, silentLogger } from "../../src/shared/logger.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { until } from "../support/until.ts";

interface LogLine { level: string; msg: string; fields: Record<string, unknown> }

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void lines.push({ level, msg, fields });
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), child: () => logger };
  return { logger, lines };
}

const stringify = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));

const metrics = () => createAuditMetrics(new Registry());

async function droppedCount(registry: Registry, reason: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric("nexus_audit_events_dropped_total")!.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value;
}

const event = (overrides: Partial<AuditEventInput> = {}): AuditEventInput => ({ eventType: "token.read", outcome: "success", ...overrides });

async function rejectsInvalid(promise: Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => e instanceof NexusError && e.reason === "invalid_argument" && e.field === field);
}

describe("audit log over the database", () => {
  let db: TestDatabase;
  let store: AuditStore;
  let clock: number;
  const services: AuditService[] = [];
  const rows = async () => db.sql`select * from audit_events order by id`;
  const count = async () => (await db.sql`select count(*)::int as n from audit_events`)[0]!.n as number;
  function service(options: Partial<AuditServiceDeps> = {}) {
    const s = createAuditService({ store, now: () => clock, logger: silentLogger, metrics: metrics(), flushIntervalMs: 60_000, ...options });
    services.push(s);
    return s;
  }

  before(async () => {
    db = await createTestDatabase();
    store = createAuditRepository(db.sql);
  });
  beforeEach(async () => {
    clock = Date.parse("2030-01-01T00:00:00Z");
    await db.sql`truncate audit_events`;
  });
  after(async () => {
    await Promise.all(services.map((s) => s.close()));
    await db.close();
  });

  it("record() queues events and writes them as one batch on flush()", async () => {
    let inserts = 0;
    const s = service({ store: { ...store, insertMany: (events) => (inserts++, store.insertMany(events)) } });
    s.record(event({ connectionId: randomUUID(), details: { n: 1 } }));
    s.record(event({ eventType: "token.refreshed" }));
    s.record(event({ outcome: "failure", reason: "invalid_grant" }));
    await sleep(50);
    assert.equal(await count(), 0, "nothing is written before the flush");
    await s.flush();
    const written = await rows();
    assert.equal(inserts, 1);
    assert.deepEqual(written.map((r) => r.eventType), ["token.read", "token.refreshed", "token.read"]);
    assert.deepEqual(written.map((r) => r.occurredAt.getTime()), [clock, clock, clock]);
    assert.equal(written[2]!.reason, "invalid_grant");
    assert.deepEqual(written[0]!.details, { n: 1 });
  });

  it("record() writes on its own after flushIntervalMs, and at once when maxBuffer events wait", async () => {
    const timed = service({ flushIntervalMs: 30 });
    timed.record(event());
    for (let i = 0; i < 100 && (await count()) === 0; i++) await sleep(20);
    assert.equal(await count(), 1);
    const full = service({ maxBuffer: 5 });
    for (let i = 0; i < 5; i++) full.record(event());
    for (let i = 0; i < 100 && (await count()) < 6; i++) await sleep(20);
    assert.equal(await count(), 6);
  });

  it("recordNow() writes the event before returning", async () => {
    const s = service();
    const connectionId = randomUUID();
    const providerId = randomUUID();
    await s.recordNow(event({ eventType: "provider.created", connectionId, providerId, providerName: "github", caller: "key:ab12", details: { auth_type: "oauth2" } }));
    const [row] = await rows();
    assert.ok(row);
    assert.equal(row.eventType, "provider.created");
    assert.equal(row.connectionId, connectionId);
    assert.equal(row.providerId, providerId);
    assert.equal(row.providerName, "github");
    assert.equal(row.caller, "key:ab12");
    assert.equal(row.outcome, "success");
    assert.deepEqual(row.details, { auth_type: "oauth2" });
    assert.equal(row.occurredAt.getTime(), clock);
  });

  it("never stores a secret-named detail, at any depth, and bounds what it stores", async () => {
    const s = service();
    const canary = `canary-${randomUUID()}`;
    const details = {
      access_token: canary, refresh_token: canary, client_secret: canary, "Client-Secret": canary, accessToken: canary,
      nested: { state: canary, kept: "yes" }, list: [{ code: canary, n: 2 }], note: "fine",
    };
    s.record(event({ details }));
    await s.recordNow(event({ eventType: "callback.failed", outcome: "failure", details }));
    await s.flush();
    const written = await rows();
    assert.equal(written.length, 2);
    assert.ok(!stringify(written).includes(canary), "a secret reached the table");
    assert.deepEqual(written[0]!.details, { nested: { kept: "yes" }, list: [{ n: 2 }], note: "fine" });

    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]));
    await s.recordNow(event({ reason: "Not A Code!", details: { long: "x".repeat(2000), deep: { long: "y".repeat(600) } } }));
    await s.recordNow(event({ details: many }));
    const [bounded, capped] = (await rows()).slice(2);
    assert.equal(bounded!.reason, "invalid");
    assert.equal(bounded!.details.long.length, 512);
    assert.equal(bounded!.details.deep.long.length, 512);
    assert.equal(Object.keys(capped!.details).length, 32);

    assert.throws(() => s.record(event({ eventType: "Token Read" })), TypeError);
    await assert.rejects(s.recordNow(event({ eventType: "" })), TypeError);
  });

  it("filters by connection_id, event_type, since and until", async () => {
    const s = service();
    const [a, b] = [randomUUID(), randomUUID()];
    const start = clock;
    for (let i = 0; i < 6; i++) {
      clock = start + i * 60_000;
      await s.recordNow(event({ connectionId: i % 2 === 0 ? a : b, eventType: i < 3 ? "token.read" : "connection.revoked" }));
    }
    const minutes = async (q: Parameters<AuditService["list"]>[0]) =>
      (await s.list(q)).events.map((e) => (e.occurredAt.getTime() - start) / 60_000);
    assert.deepEqual(await minutes({}), [5, 4, 3, 2, 1, 0]);
    assert.deepEqual(await minutes({ connectionId: a }), [4, 2, 0]);
    assert.deepEqual(await minutes({ connectionId: b.toUpperCase() }), [5, 3, 1]);
    assert.deepEqual(await minutes({ eventType: "connection.revoked" }), [5, 4, 3]);
    assert.deepEqual(await minutes({ since: new Date(start + 2 * 60_000) }), [5, 4, 3, 2]);
    assert.deepEqual(await minutes({ until: new Date(start + 2 * 60_000) }), [1, 0]);
    assert.deepEqual(await minutes({ since: new Date(start + 60_000), until: new Date(start + 4 * 60_000), connectionId: b }), [3, 1]);
  });

  it("pages 120 events newest first, 50/50/20, with no overlap or gap", async () => {
    const s = service();
    for (let i = 0; i < 120; i++) s.record(event({ details: { i } }));
    await s.flush();
    const pages: number[][] = [];
    let cursor = "";
    do {
      const page = await s.list({ limit: 50, cursor });
      pages.push(page.events.map((e) => e.details.i as number));
      cursor = page.nextCursor;
      if (pages.length === 3) assert.equal(cursor, "");
      else assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    } while (cursor !== "" && pages.length < 5);
    assert.deepEqual(pages.map((p) => p.length), [50, 50, 20]);
    assert.deepEqual(pages.flat(), Array.from({ length: 120 }, (_, i) => 119 - i));
    assert.equal((await s.list({ limit: 120 })).nextCursor, "", "an exactly full last page has no next cursor");
  });

  it("rejects bad arguments with invalid_argument naming the field", async () => {
    const s = service();
    await rejectsInvalid(s.list({ limit: 0 }), "limit");
    await rejectsInvalid(s.list({ limit: 1001 }), "limit");
    await rejectsInvalid(s.list({ limit: 2.5 }), "limit");
    await rejectsInvalid(s.list({ cursor: "not a cursor!" }), "cursor");
    await rejectsInvalid(s.list({ cursor: btoa("12x").replaceAll("=", "") }), "cursor");
    await rejectsInvalid(s.list({ cursor: btoa("9999999999999999999").replaceAll("=", "") }), "cursor");
    await rejectsInvalid(s.list({ connectionId: "1234" }), "connection_id");
    await rejectsInvalid(s.list({ since: new Date(clock), until: new Date(clock - 1) }), "until");
    await rejectsInvalid(s.list({ since: new Date(clock), until: new Date(clock) }), "until");
    assert.deepEqual((await s.list({ limit: 1000 })).events, []);
  });

  it("prune() deletes only events older than the retention, in batches, and counts them", async () => {
    await db.sql`insert into audit_events (occurred_at, event_type, outcome)
      select now() - interval '100 days', 'token.read', 'success' from generate_series(1, 1500)`;
    await db.sql`insert into audit_events (occurred_at, event_type, outcome) values
      (now() - interval '89 days', 'token.read', 'success'), (now(), 'token.read', 'success')`;
    const batches: number[] = [];
    const s = service({
      now: Date.now,
      store: { ...store, pruneBefore: async (cutoff, batch) => { const n = await store.pruneBefore(cutoff, batch); batches.push(n); return n; } },
    });
    assert.equal(await s.prune(90), 1500);
    assert.ok(batches.length >= 2 && batches.every((n) => n <= 1000), `batches: ${batches.join(",")}`);
    assert.equal(await count(), 2);
    assert.equal(await s.prune(90), 0);
  });

  it("survives a failing store: record() does not throw, and the batch is retried however many writes fail", async () => {
    let failures = 0;
    const canary = `canary-${randomUUID()}`;
    const flaky: AuditStore = {
      ...store,
      insertMany: async (events) => {
        if (failures > 0) {
          failures--;
          throw Object.assign(new Error(`connection lost while writing ${canary}`), { code: "CONNECTION_CLOSED" });
        }
        return store.insertMany(events);
      },
    };
    const { logger, lines } = captureLogger();
    const s = service({ store: flaky, logger });

    failures = 1;
    for (let i = 0; i < 3; i++) s.record(event({ details: { note: canary } }));
    await s.flush();
    assert.equal(await count(), 0);
    const logged = lines.find((l) => l.level === "error");
    assert.equal(logged?.fields.queued, 3);
    assert.ok(!stringify(lines).includes(canary), "the log holds event contents");
    await s.flush();
    assert.equal(await count(), 3, "the failed batch is written on the next flush");

    // A short outage loses nothing: seven failed writes, then the eighth attempt succeeds.
    failures = 7;
    s.record(event({ eventType: "token.kept" }));
    for (let i = 0; i < 8; i++) await s.flush();
    assert.equal((await db.sql`select count(*)::int as n from audit_events where event_type = 'token.kept'`)[0]!.n, 1);

    // Eight failed writes used to drop an event; now only a full queue or shutdown can.
    failures = 20;
    s.record(event({ eventType: "token.kept_longer" }));
    for (let i = 0; i < 20; i++) await s.flush();
    failures = 0;
    await s.flush();
    assert.equal((await db.sql`select count(*)::int as n from audit_events where event_type = 'token.kept_longer'`)[0]!.n, 1);
    assert.ok(!lines.some((l) => /dropped/.test(l.msg)), "nothing was dropped");

    failures = 1;
    await s.recordNow(event({ eventType: "provider.deleted" }));
    await s.flush();
    assert.equal((await db.sql`select count(*)::int as n from audit_events where event_type = 'provider.deleted'`)[0]!.n, 1);
  });

  it("close() writes what is queued", async () => {
    const s = createAuditService({ store, now: () => clock, logger: silentLogger, metrics: metrics(), flushIntervalMs: 60_000 });
    s.record(event());
    await s.close();
    assert.equal(await count(), 1);
  });

  it("keeps every event, in order, while PostgreSQL refuses writes, and counts what close() cannot write", async () => {
    // A real refusal from the server (SQLSTATE 57P03, as while it starts up or shuts down), switched by a trigger.
    await db.sql`create or replace function audit_outage() returns trigger language plpgsql as $$
      begin raise exception 'audit writes stopped' using errcode = '57P03'; end $$`;
    const stop = () => db.sql`create trigger audit_outage before insert on audit_events for each statement execute function audit_outage()`;
    const resume = () => db.sql`drop trigger audit_outage on audit_events`;
    const registry = new Registry();
    let attempts = 0;
    const counted: AuditStore = { ...store, insertMany: (events) => (attempts++, store.insertMany(events)) };
    const s = service({ store: counted, metrics: createAuditMetrics(registry), flushIntervalMs: 20, maxRetryDelayMs: 100 });

    await stop();
    for (let i = 0; i < 50; i++) s.record(event({ details: { i } }));
    await s.recordNow(event({ details: { i: 50 } }));
    await until("several failed writes", async () => (attempts >= 4 ? true : undefined), 10_000, 20);
    assert.equal(await count(), 0);
    await resume();
    await until("every event written", async () => ((await count()) === 51 ? true : undefined), 10_000, 20);
    assert.deepEqual((await rows()).map((r) => r.details.i), Array.from({ length: 51 }, (_, i) => i));
    assert.equal(await droppedCount(registry, "queue_full"), 0);

    await stop();
    for (let i = 0; i < 3; i++) s.record(event());
    await s.close({ deadlineMs: 300 });
    await resume();
    assert.equal(await droppedCount(registry, "shutdown"), 3);
    assert.equal(await count(), 51);
  });
});

describe("AuditService RPCs through a router", () => {
  let db: TestDatabase;
  let audit: AuditService;
  const clock = Date.parse("2030-06-01T12:00:00.123Z");
  const client = () =>
    createClient(
      AuditServiceDesc,
      createRouterTransport((router) => router.service(AuditServiceDesc, createAuditHandlers(audit)), {
        router: { interceptors: [createErrorInterceptor(silentLogger)] },
      }),
    );

  before(async () => {
    db = await createTestDatabase();
    audit = createAuditService({ store: createAuditRepository(db.sql), now: () => clock, logger: silentLogger, metrics: metrics(), flushIntervalMs: 60_000 });
  });
  after(async () => {
    await audit.close();
    await db.close();
  });

  it("maps events to AuditEvent with a Timestamp, a decimal id and Struct details", async () => {
    const connectionId = randomUUID();
    await audit.recordNow(event({ eventType: "provider.created", providerName: "github", caller: "key:ab12", details: { http_status: 401, nested: { ok: true, list: ["a", 1] } } }));
    await audit.recordNow(event({ eventType: "token.read", connectionId, outcome: "failure", reason: "connection_revoked" }));
    const [id] = await db.sql`select max(id) as id from audit_events`;
    const res = await client().listAuditEvents({});
    assert.equal(res.events.length, 2);
    assert.equal(res.nextCursor, "");
    const [newest, oldest] = res.events;
    assert.equal(newest!.id, String(id!.id));
    assert.equal(newest!.connectionId, connectionId);
    assert.equal(newest!.providerId, "");
    assert.equal(newest!.reason, "connection_revoked");
    assert.equal(newest!.outcome, "failure");
    assert.ok(newest!.time);
    assert.equal(timestampDate(newest!.time).getTime(), clock);
    assert.equal(oldest!.connectionId, "");
    assert.equal(oldest!.providerName, "github");
    assert.equal(oldest!.caller, "key:ab12");
    assert.deepEqual(oldest!.details, { http_status: 401, nested: { ok: true, list: ["a", 1] } });
  });

  it("maps the request: filters, Timestamps, limit 0 as the default, and the cursor", async () => {
    const c = client();
    assert.equal((await c.listAuditEvents({ eventType: "provider.created" })).events.length, 1);
    assert.equal((await c.listAuditEvents({ since: timestampFromDate(new Date(clock + 1)) })).events.length, 0);
    assert.equal((await c.listAuditEvents({ until: timestampFromDate(new Date(clock + 1)) })).events.length, 2);
    assert.equal((await c.listAuditEvents({ limit: 0 })).events.length, 2);
    const first = await c.listAuditEvents({ limit: 1 });
    assert.notEqual(first.nextCursor, "");
    const second = await c.listAuditEvents({ limit: 1, cursor: first.nextCursor });
    assert.equal(second.events[0]!.eventType, "provider.created");
    assert.equal(second.nextCursor, "");
  });

  it("surfaces NexusError as InvalidArgument with its reason and field", async () => {
    const c = client();
    const cases: [Parameters<ReturnType<typeof client>["listAuditEvents"]>[0], string][] = [
      [{ limit: 1001 }, "limit"],
      [{ cursor: "%%%" }, "cursor"],
      [{ connectionId: "not-a-uuid" }, "connection_id"],
      [{ since: timestampFromDate(new Date(clock)), until: timestampFromDate(new Date(clock - 1000)) }, "until"],
    ];
    for (const [request, field] of cases) {
      await assert.rejects(c.listAuditEvents(request), (e: unknown) => {
        assert.ok(e instanceof ConnectError);
        assert.equal(e.code, Code.InvalidArgument);
        assert.ok(e.rawMessage.startsWith("invalid_argument:"), e.rawMessage);
        const info = e.findDetails(ErrorInfoSchema)[0];
        assert.equal(info?.reason, "invalid_argument");
        assert.equal(e.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field, field);
        return true;
      });
    }
  });
});
