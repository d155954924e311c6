/**
 * The audit log's write path through database outages, driven by manual
 * timers: ten seconds of outage take microseconds. The store is a fake, for
 * fault injection (writes that fail for a simulated time, hang, or refuse one
 * row); the real repository is covered by integration/audit.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import type { AuditDropReason, AuditEventInput, AuditStore } from "../../src/broker/domain/ports.ts";
import { createAuditMetrics } from "../../src/broker/metrics/audit-metrics.ts";
import type { SanitisedAuditEvent } from "../../src/broker/services/audit-sanitiser.ts";
import { type AuditServiceDeps, createAuditService } from "../../src/broker/services/audit-service.ts";
import { createLogger } from "../../src/shared/logger.ts";
import { createManualTimers } from "../support/manual-timers.ts";

const start = Date.parse("2030-01-01T00:00:00Z");
const event = (i: number, overrides: Partial<AuditEventInput> = {}): AuditEventInput => ({
  eventType: "token.read",
  outcome: "success",
  details: { i },
  ...overrides,
});

function setup(options: Partial<AuditServiceDeps> = {}) {
  const timers = createManualTimers(start);
  const fake = {
    /** Writes fail until the clock reaches this. */
    downUntil: 0,
    written: [] as SanitisedAuditEvent[],
    attemptTimes: [] as number[],
    /** Every event handed to the store, written or not. */
    attempted: [] as SanitisedAuditEvent[],
    /** The database refuses a batch holding such an event (SQLSTATE 22P05). */
    refuse: (_e: SanitisedAuditEvent) => false,
    /** When set, a write waits for the test to settle it. */
    hang: undefined as undefined | { resolve: () => void; reject: (e: unknown) => void },
    hangNext: false,
  };
  const store: AuditStore = {
    async insertMany(events) {
      fake.attemptTimes.push(timers.now());
      fake.attempted.push(...events);
      if (fake.hangNext) {
        fake.hangNext = false;
        await new Promise<void>((resolve, reject) => (fake.hang = { resolve, reject }));
      } else if (timers.now() < fake.downUntil) {
        // Like a driver error that quotes the statement: the service must never log it.
        throw Object.assign(new Error(`write failed: ${JSON.stringify(events)}`), { code: "CONNECTION_CLOSED" });
      } else if (events.some(fake.refuse)) {
        throw Object.assign(new Error(`unsupported Unicode escape in ${JSON.stringify(events)}`), { code: "22P05" });
      }
      fake.written.push(...events);
    },
    list: async () => [],
    pruneBefore: async () => 0,
  };
  const registry = new Registry();
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", write: (l) => void lines.push(l), now: timers.now });
  const audit = createAuditService({
    store,
    now: timers.now,
    logger,
    metrics: createAuditMetrics(registry),
    setTimer: timers.setTimer,
    random: () => 0.5,
    ...options,
  });
  const dropped = async (reason: AuditDropReason) => {
    const metric = await registry.getSingleMetric("nexus_audit_events_dropped_total")!.get();
    return metric.values.find((v) => v.labels.reason === reason)?.value;
  };
  const logged = (msg: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
  const writtenIds = () => fake.written.map((e) => e.details?.i);
  return { audit, timers, fake, registry, lines, dropped, logged, writtenIds };
}

describe("createAuditService() through database outages", () => {
  it("registers nexus_audit_events_dropped_total at 0 for every reason", async () => {
    const { registry } = setup();
    const text = await registry.metrics();
    for (const reason of ["queue_full", "shutdown", "rejected"]) {
      assert.match(text, new RegExp(`^nexus_audit_events_dropped_total\\{reason="${reason}"\\} 0$`, "m"));
    }
  });

  it("record() loses nothing in a 10 s outage: every event written once, in order, with capped backoff", async () => {
    const { audit, timers, fake, dropped, logged, writtenIds } = setup();
    fake.downUntil = start + 10_000;
    let i = 0;
    for (let t = 0; t < 100; t++) {
      audit.record(event(i++));
      await timers.advance(100);
      // Halfway through, a burst larger than a batch and than maxBuffer: it must not add write attempts.
      if (t === 50) for (let b = 0; b < 1200; b++) audit.record(event(i++));
    }
    assert.equal(fake.written.length, 0);
    await timers.advance(10_000);
    assert.deepEqual(writtenIds(), Array.from({ length: i }, (_, n) => n));
    for (const reason of ["queue_full", "shutdown", "rejected"] as const) assert.equal(await dropped(reason), 0);

    const failedAttempts = fake.attemptTimes.filter((t) => t < fake.downUntil);
    assert.ok(failedAttempts.length >= 4 && failedAttempts.length <= 12, `attempts during the outage: ${failedAttempts.length}`);
    const gaps = failedAttempts.slice(1).map((t, n) => t - failedAttempts[n]!);
    assert.ok(gaps.every((g, n) => g <= 5000 && (n === 0 || g >= gaps[n - 1]!)), `retry gaps grow up to the cap: ${gaps.join(",")}`);
    assert.equal(logged("audit write failed; retrying until the database is back").length, 1);
    assert.equal(logged("audit writes recovered").length, 1);
    assert.equal(logged("audit events dropped").length, 0);
  });

  it("record() spreads retries with jitter: each waits between half and all of the doubled delay", async () => {
    const retryTimes = async (random: number) => {
      const { audit, timers, fake } = setup({ random: () => random });
      fake.downUntil = Number.POSITIVE_INFINITY;
      audit.record(event(0));
      await timers.advance(4000);
      return fake.attemptTimes.map((t) => t - start);
    };
    // The first write at 200 ms (flushIntervalMs), then delays of 200, 400, 800, 1600 ms, halved at the least.
    assert.deepEqual(await retryTimes(0), [200, 300, 500, 900, 1700, 3300]);
    assert.deepEqual(await retryTimes(1), [200, 400, 800, 1600, 3200]);
  });

  it("record() past maxQueuedEvents counts each lost event and logs one line", async () => {
    const { audit, timers, fake, dropped, logged, writtenIds } = setup({ maxQueuedEvents: 20 });
    fake.downUntil = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 25; i++) audit.record(event(i));
    await timers.advance(3000);
    assert.equal(await dropped("queue_full"), 5);
    const lines = logged("audit events dropped");
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.level, "error");
    assert.equal(lines[0]!.count, 5);
    assert.equal(lines[0]!.reason, "queue_full");

    fake.downUntil = 0;
    await timers.advance(10_000);
    assert.deepEqual(writtenIds(), Array.from({ length: 20 }, (_, n) => n));
    assert.equal(logged("audit events dropped").length, 1);
    assert.equal(await dropped("shutdown"), 0);
  });

  it("recordNow() in an outage does not throw, and its event is written after recovery, once", async () => {
    const { audit, timers, fake, writtenIds, dropped } = setup();
    fake.downUntil = start + 10_000;
    audit.record(event(0));
    await timers.advance(1000);
    await audit.recordNow(event(1));
    audit.record(event(2));
    await timers.advance(15_000);
    assert.deepEqual(writtenIds(), [0, 1, 2]);
    assert.equal(await dropped("queue_full"), 0);
  });

  it("close() keeps retrying until the database is back, within the deadline", async () => {
    const { audit, timers, fake, writtenIds, dropped } = setup();
    fake.downUntil = start + 3000;
    for (let i = 0; i < 7; i++) audit.record(event(i));
    const closing = audit.close();
    await timers.advance(10_000);
    await closing;
    assert.deepEqual(writtenIds(), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(await dropped("shutdown"), 0);
    assert.equal(timers.pending, 0, "no timer is left behind");
  });

  it("close() in an outage counts what is left at the deadline as dropped, reason shutdown", async () => {
    const { audit, timers, fake, dropped, logged } = setup();
    fake.downUntil = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 7; i++) audit.record(event(i));
    const closing = audit.close({ deadlineMs: 2000 });
    await timers.advance(2000);
    await closing;
    assert.equal(fake.written.length, 0);
    assert.ok(fake.attemptTimes.length >= 3, `close() retried: ${fake.attemptTimes.length} attempts`);
    assert.equal(await dropped("shutdown"), 7);
    const lines = logged("audit events dropped");
    assert.deepEqual(lines.map((l) => [l.level, l.count, l.reason]), [["error", 7, "shutdown"]]);
    assert.equal(timers.pending, 0, "no timer is left behind");

    const attempts = fake.attemptTimes.length;
    audit.record(event(7));
    await timers.advance(1000);
    assert.equal(fake.attemptTimes.length, attempts + 1, "after close an event is written at once, once");
    assert.equal(await dropped("shutdown"), 8);
  });

  it("close() does not wait past its deadline for a hanging write, and counts that batch when it fails", async () => {
    const { audit, timers, fake, dropped } = setup();
    for (let i = 0; i < 3; i++) audit.record(event(i));
    fake.hangNext = true;
    void audit.flush();
    await timers.advance(0);
    assert.ok(fake.hang, "the write is on the wire");
    audit.record(event(3));
    audit.record(event(4));
    const closing = audit.close({ deadlineMs: 1000 });
    await timers.advance(1000);
    await closing;
    assert.equal(await dropped("shutdown"), 2, "the two events behind the hanging write");
    fake.hang!.reject(Object.assign(new Error("terminated"), { code: "CONNECTION_ENDED" }));
    await timers.advance(0);
    assert.equal(await dropped("shutdown"), 5);
    assert.equal(fake.written.length, 0);
  });

  it("a row the database refuses is dropped alone (reason rejected); the rest of its batch is written in order", async () => {
    const { audit, timers, fake, dropped, logged, writtenIds } = setup();
    fake.refuse = (e) => e.details?.i === 2;
    for (let i = 0; i < 5; i++) audit.record(event(i));
    await audit.flush();
    await timers.advance(1000);
    assert.deepEqual(writtenIds(), [0, 1, 3, 4]);
    assert.equal(await dropped("rejected"), 1);
    assert.deepEqual(logged("audit events dropped").map((l) => [l.count, l.reason, l.error_code]), [[1, "rejected", "22P05"]]);
  });

  it("never logs event content: not a detail, not the caller, not the driver's message", async () => {
    const canary = "canary-4b1d";
    const { audit, timers, fake, lines, logged } = setup({ maxQueuedEvents: 3 });
    fake.downUntil = Number.POSITIVE_INFINITY;
    const secretish = (i: number) =>
      event(i, { caller: `key:${canary}`, providerName: canary, details: { i, access_token: `${canary}-token`, note: canary } });
    for (let i = 0; i < 5; i++) audit.record(secretish(i));
    await audit.recordNow(secretish(5));
    await timers.advance(3000);
    const closing = audit.close({ deadlineMs: 1000 });
    await timers.advance(1000);
    await closing;
    audit.record(secretish(6));
    await timers.advance(0);
    assert.ok(logged("audit events dropped").length >= 2, "the scenario logged its losses");
    assert.ok(lines.length > 0 && !lines.some((l) => l.includes(canary)), lines.find((l) => l.includes(canary)));
    assert.ok(!JSON.stringify(fake.attempted).includes(`${canary}-token`), "the sanitiser drops the token before the store");
  });
});
