/**
 * Disabling an agent, rotating its key, or changing its JWKS or allowed
 * providers takes effect at once on every replica: two Brokers on one
 * database, each with its own Gateway. Both are warmed first (the agent is in
 * each Broker's cache, which the test checks), the change is made through
 * Broker 1's admin API, and the time until Gateway 2 -> Broker 2 refuses is
 * measured and reported.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startBroker, type RunningService } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { brokerRest, registerProvider } from "../support/broker-api.ts";
import { type AgentKeyPair, agentKeyPair, registerAgent, type RegisteredAgent, rejection, signAssertion } from "../support/agents.ts";
import { type GatewayCallError, restClient } from "../support/gateway-clients.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { until } from "../support/until.ts";

const audience = "https://gateway.nexus.test";
/** What "at once" means here. */
const budgetMs = 1000;

describe("agent changes reach every Broker and Gateway within 1 s", () => {
  let stack: TestStack;
  let broker2: RunningService;
  let gateway2: RunningService;
  let key1: AgentKeyPair;
  let key2: AgentKeyPair;

  before(async () => {
    stack = await startStack({ gatewayEnv: { GATEWAY_PUBLIC_URL: audience } });
    broker2 = await startBroker(stack.brokerEnv, { port: 0, logWrite: (l) => void stack.logs.push(l) });
    gateway2 = await startGateway({ ...stack.gatewayEnv, BROKER_URL: broker2.url }, { port: 0, logWrite: (l) => void stack.logs.push(l) });
    await registerProvider(stack, { name: "keyed", auth_type: "api_key" });
    await registerProvider(stack, { name: "other", auth_type: "api_key" });
    key1 = await agentKeyPair("ES256", "k1");
    key2 = await agentKeyPair("EdDSA", "k2");
  });
  after(async () => {
    await gateway2.close();
    await broker2.close();
    await stack.close();
  });

  /** The routes a call can take: Gateway 1 -> Broker 1 and Gateway 2 -> Broker 2. */
  const routes = () => [
    { name: "Gateway 1 -> Broker 1", gateway: stack.gateway.url, broker: stack.broker.url },
    { name: "Gateway 2 -> Broker 2", gateway: gateway2.url, broker: broker2.url },
  ];

  /** An agent with a captured connection in a workspace of its own. */
  async function agentWithConnection(name: string, spec: { jwks?: boolean; allowed?: string[] } = {}): Promise<RegisteredAgent & { workspace: string }> {
    const agent = await registerAgent(stack.broker.url, stack.adminKey, {
      name, ...(spec.jwks ? { jwks: { keys: [key1.publicJwk, key2.publicJwk] } } : {}), ...(spec.allowed ? { allowed_providers: spec.allowed } : {}),
    });
    const workspace = `ws-${name}`;
    const started = await restClient(stack.gateway.url, agent.apiKey).requestConnection({ user_id: workspace, provider_name: "keyed", return_url: "https://app.example.com/back" });
    await restClient(stack.gateway.url).captureCredential(String(started.state), { api_key: `key-of-${name}-0123456789` });
    return { ...agent, workspace };
  }

  /** How often the Broker at `url` has read an agent from the database. */
  async function agentReads(url: string): Promise<number> {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith("nexus_db_operation_duration_seconds_count{") && l.includes('repo="agents"') && l.includes('method="get"'));
    return line === undefined ? 0 : Number(line.split(" ").pop());
  }

  /** Calls through both routes until each Broker answers from its cache (a call reads no agent from the database). */
  async function warm(call: (gatewayUrl: string) => Promise<unknown>): Promise<void> {
    for (const route of routes()) {
      await until(`${route.name} answering from its agent cache`, async () => {
        await call(route.gateway);
        const before = await agentReads(route.broker);
        await call(route.gateway);
        return (await agentReads(route.broker)) === before ? true : undefined;
      }, 10_000, 50);
    }
  }

  /**
   * Makes `change` through Broker 1's admin API, then calls through Gateway 2
   * -> Broker 2 until `refused` says the change took; returns the time from
   * sending the change, and from its answer.
   */
  async function measure(change: () => Promise<void>, probe: () => Promise<unknown>, refused: (e: GatewayCallError) => boolean): Promise<{ fromRequest: number; fromAnswer: number }> {
    const sent = performance.now();
    await change();
    const answered = performance.now();
    const deadline = sent + 5_000;
    for (;;) {
      try {
        await probe();
      } catch (error) {
        if (refused(error as GatewayCallError)) break;
        throw error;
      }
      assert.ok(performance.now() < deadline, "the change never reached Broker 2");
    }
    const done = performance.now();
    return { fromRequest: done - sent, fromAnswer: done - answered };
  }

  const report = (t: { diagnostic(m: string): void }, what: string, m: { fromRequest: number; fromAnswer: number }) =>
    t.diagnostic(`${what}: refused on Gateway 2 -> Broker 2 ${m.fromRequest.toFixed(0)} ms after the admin call was sent (${m.fromAnswer.toFixed(0)} ms after its answer)`);

  it("disabling an agent through Broker 1 refuses its key and its assertions on Gateway 2 -> Broker 2 within 1 s", async (t) => {
    const agent = await agentWithConnection("disabled-agent", { jwks: true });
    const resolveWith = (gatewayUrl: string, credential: string) => restClient(gatewayUrl, credential).resolve(agent.workspace, "keyed");
    await warm((url) => resolveWith(url, agent.apiKey));
    await warm(async (url) => resolveWith(url, await signAssertion(key1, { agentId: agent.id, audience })));
    const m = await measure(
      async () => assert.equal((await brokerRest(stack, "DELETE", `/agents/${agent.id}`)).status, 200),
      () => resolveWith(gateway2.url, agent.apiKey),
      (e) => e.reason === "agent_disabled",
    );
    report(t, "disable", m);
    assert.ok(m.fromRequest < budgetMs, `took ${m.fromRequest.toFixed(0)} ms`);
    for (const route of routes()) {
      assert.equal((await rejection<GatewayCallError>(resolveWith(route.gateway, agent.apiKey))).reason, "agent_disabled", route.name);
      const jwt = await signAssertion(key1, { agentId: agent.id, audience });
      assert.equal((await rejection<GatewayCallError>(resolveWith(route.gateway, jwt))).reason, "agent_disabled", `${route.name}, assertion`);
    }
  });

  it("rotating a key through Broker 1 refuses the old key on Gateway 2 -> Broker 2 within 1 s, and the new key works everywhere", async (t) => {
    const agent = await agentWithConnection("rotated-agent");
    const resolveWith = (gatewayUrl: string, credential: string) => restClient(gatewayUrl, credential).resolve(agent.workspace, "keyed");
    await warm((url) => resolveWith(url, agent.apiKey));
    let newKey = "";
    const m = await measure(
      async () => {
        const r = await brokerRest(stack, "POST", `/agents/${agent.id}/rotate-key`);
        assert.equal(r.status, 200);
        newKey = r.body.api_key as string;
      },
      () => resolveWith(gateway2.url, agent.apiKey),
      (e) => e.reason === "agent_key_invalid",
    );
    report(t, "rotate-key", m);
    assert.ok(m.fromRequest < budgetMs, `took ${m.fromRequest.toFixed(0)} ms`);
    for (const route of routes()) {
      assert.equal((await rejection<GatewayCallError>(resolveWith(route.gateway, agent.apiKey))).reason, "agent_key_invalid", route.name);
      assert.equal(((await resolveWith(route.gateway, newKey)).credentials as Record<string, string>).api_key, "key-of-rotated-agent-0123456789", route.name);
    }
  });

  it("removing a key from the JWKS through Broker 1 refuses assertions signed with it on Gateway 2 -> Broker 2 within 1 s", async (t) => {
    const agent = await agentWithConnection("jwks-agent", { jwks: true });
    const resolveWith = (gatewayUrl: string, credential: string) => restClient(gatewayUrl, credential).resolve(agent.workspace, "keyed");
    await warm(async (url) => resolveWith(url, await signAssertion(key1, { agentId: agent.id, audience })));
    const m = await measure(
      async () => assert.equal((await brokerRest(stack, "PATCH", `/agents/${agent.id}`, { agent: { jwks: { keys: [key2.publicJwk] } } })).status, 200),
      async () => resolveWith(gateway2.url, await signAssertion(key1, { agentId: agent.id, audience })),
      (e) => e.reason === "assertion_invalid",
    );
    report(t, "jwks change", m);
    assert.ok(m.fromRequest < budgetMs, `took ${m.fromRequest.toFixed(0)} ms`);
    for (const route of routes()) {
      assert.equal(((await resolveWith(route.gateway, await signAssertion(key2, { agentId: agent.id, audience }))).credentials as Record<string, string>).api_key, "key-of-jwks-agent-0123456789");
    }
  });

  it("narrowing allowed_providers through Broker 1 refuses request-connection on Gateway 2 -> Broker 2 within 1 s", async (t) => {
    const agent = await agentWithConnection("narrowed-agent", { allowed: ["keyed", "other"] });
    const start = (gatewayUrl: string) =>
      restClient(gatewayUrl, agent.apiKey).requestConnection({ user_id: agent.workspace, provider_name: "other", return_url: "https://app.example.com/back" });
    await warm(start);
    const m = await measure(
      async () => assert.equal((await brokerRest(stack, "PATCH", `/agents/${agent.id}`, { agent: { allowed_providers: ["keyed"] } })).status, 200),
      () => start(gateway2.url),
      (e) => e.reason === "provider_not_allowed",
    );
    report(t, "allowed_providers change", m);
    assert.ok(m.fromRequest < budgetMs, `took ${m.fromRequest.toFixed(0)} ms`);
  });
});
