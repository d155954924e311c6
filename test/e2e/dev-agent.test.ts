/**
 * The development agent `make run` registers: created once, reused while its
 * stored key works, given a new key when the stored one is lost or was
 * rotated elsewhere, registered anew when disabled; its key works through a
 * Gateway that has no AGENT_API_KEYS, as in `make run`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ensureDevelopmentAgent } from "../../src/runtime/node/dev-agent.ts";
import { brokerRest } from "../support/broker-api.ts";
import { startStack, type TestStack } from "../support/stack.ts";

describe("ensureDevelopmentAgent()", () => {
  let stack: TestStack;
  let options: { brokerUrl: string; adminKey: string };

  /** The status the Gateway answers a check of an unknown connection with this key: 404 once the key is accepted. */
  async function gatewayStatus(key: string): Promise<number> {
    const res = await fetch(`${stack.gateway.url}/v1/check-connection/00000000-0000-4000-8000-000000000000`, { headers: { authorization: `Bearer ${key}` } });
    await res.body?.cancel();
    return res.status;
  }

  before(async () => {
    stack = await startStack({ gatewayEnv: { AGENT_API_KEYS: "" } });
    options = { brokerUrl: stack.broker.url, adminKey: stack.adminKey };
  });
  after(() => stack.close());

  it("registers dev-agent the first time, and its key works through the Gateway", async () => {
    const agent = await ensureDevelopmentAgent({ ...options, stored: undefined });
    assert.equal(agent.outcome, "created");
    assert.equal(agent.name, "dev-agent");
    assert.match(agent.key, /^nxa_/);
    assert.equal(await gatewayStatus(agent.key), 404);
    const listed = await brokerRest(stack, "GET", `/agents/${agent.id}`);
    assert.equal(listed.body.name, "dev-agent");
  });

  it("reuses a stored key the Broker accepts, and replaces one it does not", async () => {
    const first = await ensureDevelopmentAgent({ ...options, stored: undefined });
    const again = await ensureDevelopmentAgent({ ...options, stored: first });
    assert.deepEqual([again.outcome, again.id, again.key], ["reused", first.id, first.key]);

    await brokerRest(stack, "POST", `/agents/${first.id}/rotate-key`);
    assert.equal(await gatewayStatus(first.key), 401);
    const rotated = await ensureDevelopmentAgent({ ...options, stored: first });
    assert.deepEqual([rotated.outcome, rotated.id], ["rotated", first.id]);
    assert.equal(await gatewayStatus(rotated.key), 404);
  });

  it("gives the existing agent a new key when the stored one is lost, rather than a second registration", async () => {
    const before = (await brokerRest(stack, "GET", "/agents")).body.agents as unknown[];
    const agent = await ensureDevelopmentAgent({ ...options, stored: undefined });
    assert.equal(agent.outcome, "rotated");
    assert.equal(((await brokerRest(stack, "GET", "/agents")).body.agents as unknown[]).length, before.length);
    assert.equal(await gatewayStatus(agent.key), 404);
  });

  it("registers a new agent when the stored one was disabled", async () => {
    const current = await ensureDevelopmentAgent({ ...options, stored: undefined });
    await brokerRest(stack, "DELETE", `/agents/${current.id}`);
    const fresh = await ensureDevelopmentAgent({ ...options, stored: current });
    assert.equal(fresh.outcome, "created");
    assert.notEqual(fresh.id, current.id);
    assert.equal(await gatewayStatus(current.key), 401);
    assert.equal(await gatewayStatus(fresh.key), 404);
  });
});
