import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AuditEventInput, AuditLog } from "../../src/broker/domain/ports.ts";
import { createReadCoalescer } from "../../src/broker/services/read-coalescer.ts";
import { createManualTimers } from "../support/manual-timers.ts";

const conn = "11111111-1111-4111-8111-111111111111";
const other = "22222222-2222-4222-8222-222222222222";
const agent = "33333333-3333-4333-8333-333333333333";

function setup(options: { maxKeys?: number } = {}) {
  const events: AuditEventInput[] = [];
  const audit: AuditLog = { record: (e) => void events.push(e), recordNow: async (e) => void events.push(e) };
  const timers = createManualTimers(Date.parse("2025-01-01T00:00:00Z"));
  const reads = createReadCoalescer({ audit, now: timers.now, windowMs: 1000, setTimer: timers.setTimer, ...options });
  const read = (connectionId = conn, caller = `agent:${agent}`) =>
    reads.log.record({ eventType: "token.read", outcome: "success", connectionId, caller, agentId: agent, providerId: other, providerName: "keys" });
  // Past the end of the window that is open now.
  const endWindow = () => timers.advance(1000);
  return { events, reads, read, endWindow, tick: (ms: number) => timers.advance(ms), count: (e: AuditEventInput) => e.details?.count as number };
}

describe("createReadCoalescer()", () => {
  it("turns N successful reads of one connection by one caller within a window into one event counting N, first and last", async () => {
    const { events, read, tick, count } = setup();
    read();
    await tick(300);
    read();
    await tick(400);
    read();
    assert.equal(events.length, 0, "nothing written before the window ends");
    await tick(300);
    assert.equal(events.length, 1);
    const [e] = events;
    assert.equal(count(e!), 3);
    assert.equal(e!.details?.first_read_at, "2025-01-01T00:00:00.000Z");
    assert.equal(e!.details?.last_read_at, "2025-01-01T00:00:00.700Z");
    assert.equal(e!.occurredAt?.toISOString(), "2025-01-01T00:00:00.700Z", "the event's time is the last read's");
    assert.deepEqual([e!.eventType, e!.outcome, e!.connectionId, e!.agentId, e!.providerName], ["token.read", "success", conn, agent, "keys"]);
  });

  it("keeps connections and callers apart, and counts every read across windows", async () => {
    const { events, read, endWindow, count } = setup();
    for (let i = 0; i < 5; i++) read(conn);
    for (let i = 0; i < 2; i++) read(other);
    read(conn, "agent:1a2b3c4d via key:9");
    await endWindow();
    for (let i = 0; i < 4; i++) read(conn);
    await endWindow();
    assert.equal(events.length, 4);
    assert.equal(events.reduce((n, e) => n + count(e), 0), 12);
    assert.equal(events.filter((e) => e.connectionId === conn && e.caller === `agent:${agent}`).reduce((n, e) => n + count(e), 0), 9);
  });

  it("adds reads counted elsewhere (a Gateway's cache) to the same window", async () => {
    const { events, read, reads, endWindow, count } = setup();
    read();
    reads.add({ connectionId: conn, caller: `agent:${agent}`, agentId: agent, providerId: other, providerName: "keys", count: 40, firstMs: 0, lastMs: Date.parse("2025-01-01T00:00:05Z") });
    await endWindow();
    assert.equal(events.length, 1);
    assert.equal(count(events[0]!), 41);
    assert.equal(events[0]!.details?.first_read_at, "1970-01-01T00:00:00.000Z");
    assert.equal(events[0]!.details?.last_read_at, "2025-01-01T00:00:05.000Z");
  });

  it("passes failed reads and other events straight through, one each", async () => {
    const { events, reads } = setup();
    reads.log.record({ eventType: "token.read", outcome: "failure", connectionId: conn, reason: "agent_not_authorized" });
    reads.log.record({ eventType: "token.refreshed", outcome: "success", connectionId: conn });
    assert.deepEqual(events.map((e) => [e.eventType, e.outcome]), [["token.read", "failure"], ["token.refreshed", "success"]]);
  });

  it("writes every open window at once when it would hold more than maxKeys pairs, and on flush and close", async () => {
    const { events, read, reads, count } = setup({ maxKeys: 2 });
    read("44444444-4444-4444-8444-444444444444");
    read("55555555-5555-4555-8555-555555555555");
    assert.equal(events.length, 0);
    read("66666666-6666-4666-8666-666666666666");
    assert.equal(events.length, 2, "the third pair flushed the first two");
    reads.flush();
    assert.equal(events.length, 3);
    read();
    reads.close();
    assert.equal(events.length, 4);
    read();
    assert.equal(events.length, 5, "after close a read is written on its own");
    assert.equal(events.reduce((n, e) => n + count(e), 0), 5);
  });
});
