/**
 * One error model on every protocol (issue 20, item 4): the reason in a
 * google.rpc.ErrorInfo detail, the field at fault in google.rpc.BadRequest,
 * the retry hint in google.rpc.RetryInfo, the same whether a caller speaks
 * REST, Connect JSON, gRPC-Web or gRPC; the Gateway relays the Broker's
 * details whole; the token endpoint answers RFC 6749 bodies from the same
 * mapping; and the agent client reads all of it from the details.
 *
 * One input rule (item 3): a rule gives the same reason and field at the
 * Gateway and at the Broker, and the client checks it before sending.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createNexusClient, type NexusClientError, type Timers } from "../../src/client/mod.ts";
import type { RunningService } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { inputLimits } from "../../src/shared/input-rules.ts";
import { freePort } from "../support/free-port.ts";
import {
  connectJsonClient, GatewayCallError, type GatewayTestClient, grpcClient, grpcWebClient, restClient,
} from "../support/gateway-clients.ts";
import type { FakeProvider } from "../support/fake-provider.ts";
import { type SecurityHarness, startFakeProvider, startSecurityHarness } from "../support/security-harness.ts";
import { startStack, type TestStack } from "../support/stack.ts";

async function rejection(p: Promise<unknown>): Promise<GatewayCallError> {
  const error = await p.then(() => assert.fail("the call succeeded"), (e: unknown) => e);
  assert.ok(error instanceof GatewayCallError, String(error));
  return error;
}

async function clientRejection(p: Promise<unknown>): Promise<NexusClientError> {
  return p.then(() => assert.fail("the call succeeded"), (e: unknown) => e as NexusClientError);
}

/** A string the state rule refuses for its length alone: a well-formed compact JWS one character too long. */
const longState = `${"a".repeat(inputLimits.stateLength - 4)}.b.c`;

describe("one error model on every protocol", () => {
  let stack: TestStack;
  let down: RunningService;
  const clients: (GatewayTestClient & { close?: () => void })[] = [];
  const downClients: (GatewayTestClient & { close?: () => void })[] = [];
  const all = (url: string, key: string) => [restClient(url, key), connectJsonClient(url, key), grpcWebClient(url, key), grpcClient(url, key)];

  before(async () => {
    stack = await startStack();
    // A Gateway whose Broker is not there: every data-plane call is unavailable.
    down = await startGateway({ BROKER_URL: `http://127.0.0.1:${await freePort()}`, BROKER_API_KEY: stack.adminKey, AGENT_API_KEYS: stack.agentKey }, {
      port: 0, logWrite: () => {},
    });
    clients.push(...all(stack.gateway.url, stack.agentKey));
    downClients.push(...all(down.url, stack.agentKey));
  });
  after(async () => {
    for (const c of [...clients, ...downClients]) c.close?.();
    await down?.close();
    await stack?.close();
  });

  for (const index of [0, 1, 2, 3]) {
    const protocol = ["REST", "Connect JSON", "gRPC-Web", "gRPC"][index]!;

    it(`${protocol}: bad input is ErrorInfo invalid_argument with a BadRequest field violation naming the field`, async () => {
      const e = await rejection(clients[index]!.getToken("not-a-uuid"));
      assert.equal(e.code, "invalid_argument");
      assert.equal(e.reason, "invalid_argument");
      assert.deepEqual(e.field, { path: "connection_id", description: "must be a UUID such as 2f1c3a5e-8b7d-4c1e-9a6f-0d2b4e6f8a1c" });
      assert.equal(e.retryAfterSeconds, undefined, "nothing to retry");
      // The message keeps the reason in front, for people reading raw errors.
      assert.match(e.message, /^invalid_argument: connection_id: must be a UUID/);
      if (protocol === "REST") assert.equal(e.httpStatus, 400);
    });

    it(`${protocol}: a rule with a reason of its own (state) names it, and the field`, async () => {
      const e = await rejection(clients[index]!.captureSchema(longState));
      assert.deepEqual([e.code, e.reason, e.field?.path], ["invalid_argument", "state_invalid", "state"]);
    });

    it(`${protocol}: the Broker's refusal reaches the agent with every detail (provider_not_found, field provider_name)`, async () => {
      const e = await rejection(clients[index]!.requestConnection({ user_id: "w", provider_name: "no-such-provider", return_url: "https://app.example.com/" }));
      assert.deepEqual([e.code, e.reason, e.field?.path], ["not_found", "provider_not_found", "provider_name"]);
    });

    it(`${protocol}: a Broker that cannot be reached is unavailable, with no hint (the client's backoff decides)`, async () => {
      const e = await rejection(downClients[index]!.getToken(crypto.randomUUID()));
      assert.deepEqual([e.code, e.reason, e.retryAfterSeconds, e.field], ["unavailable", "unavailable", undefined, undefined]);
    });
  }

  it("the same rule gives the same reason and field at the Gateway and at the Broker (one definition)", async () => {
    const atBroker = await fetch(`${stack.broker.url}/capture-schema?state=${longState}`, { headers: { "x-api-key": stack.adminKey } });
    const body = (await atBroker.json()) as { code: string; message: string };
    const atGateway = await rejection(clients[0]!.captureSchema(longState));
    assert.equal(atBroker.status, 400);
    assert.equal(body.message, atGateway.message);
    // One character shorter passes the rule at both, and fails only on its signature, further in.
    const fits = `${"a".repeat(inputLimits.stateLength - 5)}.b.c`;
    assert.equal((await rejection(clients[0]!.captureSchema(fits))).reason, "state_invalid");
  });

  it("REST token exchange answers RFC 6749 bodies from the same mapping", async () => {
    const form = new URLSearchParams({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", subject_token: "a.b.c", subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
    });
    const headers = { authorization: `Bearer ${stack.agentKey}`, "content-type": "application/x-www-form-urlencoded" };
    const refused = await fetch(`${stack.gateway.url}/v1/token-exchange`, { method: "POST", headers, body: form });
    assert.equal(refused.status, 400);
    const refusedBody = (await refused.json()) as Record<string, string>;
    assert.equal(refusedBody.error, "invalid_grant");
    assert.doesNotMatch(refusedBody.error_description ?? "", /^invalid_grant: /, "the description is the sentence, without the reason");
    const unavailable = await fetch(`${down.url}/v1/token-exchange`, { method: "POST", headers, body: form });
    assert.equal(unavailable.status, 503);
    assert.equal(((await unavailable.json()) as Record<string, string>).error, "temporarily_unavailable");
  });

  describe("the agent client", () => {
    it("reads the reason and the field from the details of the Gateway's answer", async () => {
      const client = createNexusClient({ baseUrl: stack.gateway.url, apiKey: stack.agentKey, logger: {} });
      const e = await clientRejection(client.requestConnection({ userId: "w", providerName: "no-such-provider", returnUrl: "https://app.example.com/" }));
      assert.deepEqual([e.code, e.reason, e.field, e.retryable], ["not_found", "provider_not_found", "provider_name", false]);
    });

    it("retries unavailable by its code when no hint comes", async () => {
      const client = createNexusClient({ baseUrl: down.url, apiKey: stack.agentKey, logger: {}, retry: { attempts: 1 } });
      const e = await clientRejection(client.getToken(crypto.randomUUID()));
      assert.deepEqual([e.code, e.reason, e.retryable, e.retryAfterMs], ["unavailable", "unavailable", true, undefined]);
    });

    it("checks the contract's input rules before sending: same reason, field and message, no request", async () => {
      let sent = 0;
      const counting: typeof fetch = (input, init) => {
        sent++;
        return fetch(input, init);
      };
      const client = createNexusClient({ baseUrl: stack.gateway.url, apiKey: stack.agentKey, logger: {}, fetch: counting });
      const local = await clientRejection(client.getToken("not-a-uuid"));
      assert.equal(sent, 0, "nothing was sent");
      const remote = await rejection(clients[1]!.getToken("not-a-uuid"));
      assert.deepEqual([local.code, local.reason, local.field, local.message], [remote.code, remote.reason, remote.field?.path, remote.message]);
      await client.checkConnection(crypto.randomUUID().toUpperCase()).catch(() => {});
      assert.equal(sent, 1, "an upper-case UUID passes the rule and is sent");
    });
  });
});

describe("a retry hint travels as RetryInfo on every protocol, and the client waits for it", () => {
  let h: SecurityHarness;
  let fake: FakeProvider;
  let gateway: RunningService;
  let id: string;
  const agentKey = `agent-${crypto.randomUUID()}`;
  const clients: (GatewayTestClient & { close?: () => void })[] = [];

  before(async () => {
    h = await startSecurityHarness();
    fake = await startFakeProvider();
    await h.registerFake("retry-fake", fake);
    id = await h.connect(fake, "retry-fake");
    // The provider says "slow down, come back in 120 s": the connection backs off that long.
    fake.script.push({ kind: "status", status: 429, retryAfter: "120", body: JSON.stringify({ error: "slow_down" }) });
    assert.equal((await h.rest("POST", `/connections/${id}/refresh`)).status, 503);
    gateway = await startGateway({ BROKER_URL: h.stack.broker.url, BROKER_API_KEY: h.stack.adminKey, AGENT_API_KEYS: agentKey }, { port: 0, logWrite: () => {} });
    clients.push(restClient(gateway.url, agentKey), connectJsonClient(gateway.url, agentKey), grpcWebClient(gateway.url, agentKey), grpcClient(gateway.url, agentKey));
  });
  after(async () => {
    for (const c of clients) c.close?.();
    await gateway?.close();
    await fake?.close();
    await h?.close();
  });

  for (const index of [0, 1, 2, 3]) {
    it(`${["REST", "Connect JSON", "gRPC-Web", "gRPC"][index]}: a refresh during the backoff is refresh_backoff with RetryInfo`, async () => {
      const e = await rejection(clients[index]!.refresh(id));
      assert.deepEqual([e.code, e.reason], ["unavailable", "refresh_backoff"]);
      assert.ok(e.retryAfterSeconds !== undefined && e.retryAfterSeconds > 100 && e.retryAfterSeconds <= 120, `retry after ${e.retryAfterSeconds} s`);
    });
  }

  it("the agent client reads the hint and waits at least that long before trying again", async () => {
    const waits: number[] = [];
    // Timers that record each wait and fire at once: the test asserts the length, not the clock.
    const timers: Timers = { setTimeout: (fn, ms) => (waits.push(ms), setTimeout(fn, 0)), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) };
    const client = createNexusClient({ baseUrl: gateway.url, apiKey: agentKey, logger: {}, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 600_000 }, timers });
    const e = await clientRejection(client.refresh(id));
    assert.deepEqual([e.code, e.reason, e.retryable], ["unavailable", "refresh_backoff", true]);
    assert.ok(e.retryAfterMs !== undefined && e.retryAfterMs > 100_000, `retryAfterMs ${e.retryAfterMs}`);
    assert.equal(waits.length, 1, "one wait between the two attempts");
    assert.ok(waits[0]! > 100_000, `waited ${waits[0]} ms: the hint, not the 1 ms backoff`);
  });
});
