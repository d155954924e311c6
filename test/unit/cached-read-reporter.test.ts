import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createCachedReadReporter, type ReadDropReason } from "../../src/gateway/cached-read-reporter.ts";
import type { ReadAudit } from "../../src/gateway/token-answer-cache.ts";
import { createLogger } from "../../src/shared/logger.ts";
import { createManualTimers } from "../support/manual-timers.ts";

// One record per cached answer, as the cache hands out: every hit of an answer passes the same object.
const records = new Map<string, ReadAudit>();
const read = (connectionId: string, agentId = "a"): ReadAudit => {
  const key = `${connectionId} ${agentId}`;
  if (!records.has(key)) records.set(key, { connectionId, agentId, caller: `agent:${agentId}`, providerId: "p", providerName: "keys" });
  return records.get(key)!;
};

function setup(options: { maxPending?: number } = {}) {
  const timers = createManualTimers(1_000_000);
  const sent: { connectionId: string; count: number; first: number; last: number }[] = [];
  const dropped: [ReadDropReason, number][] = [];
  const broker: { up: boolean; calls: number; hold?: Promise<void>; delayMs?: number } = { up: true, calls: 0 };
  const logs: string[] = [];
  const reporter = createCachedReadReporter({
    async send(reads) {
      broker.calls++;
      await broker.hold;
      if (broker.delayMs !== undefined) await new Promise<void>((resolve) => timers.setTimer(resolve, broker.delayMs!));
      if (!broker.up) throw new Error("unavailable");
      for (const r of reads) {
        sent.push({ connectionId: r.connectionId!, count: Number(r.count), first: Number(r.firstTime!.seconds) * 1000 + r.firstTime!.nanos! / 1e6, last: Number(r.lastTime!.seconds) * 1000 + r.lastTime!.nanos! / 1e6 });
      }
    },
    now: timers.now, setTimer: timers.setTimer, flushMs: 1000, logger: createLogger({ write: (l) => void logs.push(l) }),
    dropped: (reason, count) => void dropped.push([reason, count]), ...options,
  });
  const total = () => sent.reduce((n, s) => n + s.count, 0);
  return { reporter, timers, sent, dropped, broker, total, logs };
}

describe("createCachedReadReporter()", () => {
  it("reports the reads of a second as one count per connection and caller, with the first and last time", async () => {
    const { reporter, timers, sent } = setup();
    reporter.record(read("c1"));
    await timers.advance(400);
    reporter.record(read("c1"));
    reporter.record(read("c2"));
    assert.equal(sent.length, 0);
    await timers.advance(600);
    assert.deepEqual(sent.map((s) => [s.connectionId, s.count, s.last - s.first]), [["c1", 2, 400], ["c2", 1, 0]]);
  });

  it("keeps the counts through a Broker outage and reports them, merged, once it is back", async () => {
    const { reporter, timers, broker, total, dropped } = setup();
    broker.up = false;
    for (let i = 0; i < 5; i++) reporter.record(read("c1"));
    await timers.advance(1000);
    for (let i = 0; i < 3; i++) reporter.record(read("c1"));
    await timers.advance(5000);
    assert.ok(broker.calls >= 2, "retried");
    assert.equal(total(), 0);
    broker.up = true;
    await timers.advance(10_000);
    assert.equal(total(), 8);
    assert.deepEqual(dropped, []);
  });

  it("counts, never silently loses, reads that do not fit while the Broker is away", async () => {
    const { reporter, timers, broker, total, dropped } = setup({ maxPending: 2 });
    broker.up = false;
    reporter.record(read("c1"));
    reporter.record(read("c2"));
    reporter.record(read("c3"));
    reporter.record(read("c1"));
    assert.deepEqual(dropped, [["queue_full", 1]]);
    broker.up = true;
    await timers.advance(1000);
    assert.equal(total() + dropped.reduce((n, [, c]) => n + c, 0), 4);
  });

  it("flushes on close, and counts what it could not report before the deadline as dropped (shutdown)", async () => {
    const ok = setup();
    for (let i = 0; i < 7; i++) ok.reporter.record(read("c1"));
    await ok.reporter.close(5000);
    assert.equal(ok.total(), 7);
    assert.deepEqual(ok.dropped, []);

    const down = setup();
    down.broker.up = false;
    for (let i = 0; i < 4; i++) down.reporter.record(read("c1"));
    const closing = down.reporter.close(2000);
    await down.timers.advance(2500);
    await closing;
    assert.deepEqual(down.dropped, [["shutdown", 4]]);
    assert.ok(down.logs.some((l) => l.includes("cached reads not reported")));
  });

  it("keeps reporting after a timer fires with nothing left to send", async () => {
    const { reporter, timers, broker, sent, total } = setup();
    reporter.record(read("c1"));
    let release = () => {};
    broker.hold = new Promise<void>((resolve) => (release = resolve));
    await timers.advance(1000);
    // Recorded while c1's report is on the wire: it waits for the next timer.
    reporter.record(read("c2"));
    release();
    await timers.advance(0);
    assert.deepEqual(sent.map((s) => s.connectionId), ["c1"]);
    await timers.advance(1000);
    assert.deepEqual(sent.map((s) => s.connectionId), ["c1", "c2"]);
    // A timer that finds nothing to send leaves the reporter able to send the next reads.
    await reporter.flush();
    reporter.record(read("c3"));
    await timers.advance(1000);
    assert.equal(total(), 3);
    await reporter.close(5000);
    assert.equal(total(), 3);
  });

  it("sends one report per second under steady reads, however long each report takes", async () => {
    const { reporter, timers, broker, total } = setup();
    let recorded = 0;
    // Each report takes 50 ms on the wire; reads keep coming every 10 ms meanwhile.
    broker.delayMs = 50;
    for (let t = 0; t < 3000; t += 10) {
      reporter.record(read("c1"));
      recorded++;
      await timers.advance(10);
    }
    assert.ok(broker.calls <= 4, `${broker.calls} reports in 3 s`);
    const closing = reporter.close(5000);
    await timers.advance(1000);
    await closing;
    assert.equal(total(), recorded);
  });
});
