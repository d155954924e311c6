/**
 * A Broker + Gateway stack for the agent-client tests, whose Broker can be
 * stopped and started again on the same port (the Gateway keeps pointing at
 * it), plus helpers that make connections the way an agent's users would:
 * static credentials captured through the Gateway, OAuth consent at the test IdP.
 * The agent is a registered one, as in `make run`: the Gateway has no
 * AGENT_API_KEYS, and every connection the helpers make belongs to that agent.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { type RunningService, startBroker } from "../../src/runtime/node/start-broker.ts";
import { NexusClientError } from "../../src/client/mod.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { deliverCallback, registerProvider } from "./broker-api.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import { freePort } from "./free-port.ts";
import { restClient } from "./gateway-clients.ts";
import { registerAgent } from "./agents.ts";
import { type TestStack, testBrokerEnv } from "./stack.ts";
import type { TestIdp } from "./test-idp.ts";

/** A running stack with a restartable Broker. */
export interface ClientStack {
  readonly db: TestDatabase;
  readonly gateway: RunningService;
  readonly gatewayUrl: string;
  readonly adminKey: string;
  /** The API key (nxa_...) of the registered agent `client-agent`. */
  readonly agentKey: string;
  /** Its id. */
  readonly agentId: string;
  readonly logs: string[];
  /** The Broker as broker-api.ts helpers expect it (`stack.broker.url`, `stack.adminKey`). */
  readonly admin: TestStack;
  stopBroker(): Promise<void>;
  startBroker(): Promise<void>;
  close(): Promise<void>;
}

/** Starts PostgreSQL database, Broker (fixed port) and Gateway. */
export async function startClientStack(brokerOverrides: Record<string, string> = {}): Promise<ClientStack> {
  const db = await createTestDatabase();
  const logs: string[] = [];
  const adminKey = `admin-${randomBytes(18).toString("base64url")}`;
  const port = await freePort();
  const brokerEnv = testBrokerEnv(db.url, adminKey, brokerOverrides);
  const logWrite = (line: string) => void logs.push(line);
  let broker: RunningService | undefined = await startBroker(brokerEnv, { port, logWrite });
  const brokerUrl = broker.url;
  const gateway = await startGateway({ BROKER_URL: brokerUrl, BROKER_API_KEY: adminKey, LOG_LEVEL: "debug" }, { port: 0, logWrite });
  const adminOnly = { broker: { port, url: brokerUrl, close: async () => {} }, adminKey };
  const agent = await registerAgent(adminOnly.broker.url, adminOnly.adminKey, { name: "client-agent" });
  const agentKey = agent.apiKey;
  const admin = { ...adminOnly, agentKey, db, logs } as unknown as TestStack;
  return {
    db, gateway, gatewayUrl: gateway.url, adminKey, agentKey, agentId: agent.id, logs, admin,
    async stopBroker() {
      await broker?.close();
      broker = undefined;
    },
    async startBroker() {
      broker ??= await startBroker(brokerEnv, { port, logWrite });
    },
    async close() {
      await gateway.close();
      await broker?.close();
      await db.close();
    },
  };
}

/** Starts a connection through the Gateway and captures a static credential for it; returns its id. */
export async function connectStatic(stack: ClientStack, providerName: string, workspace: string, credentials: Record<string, string>): Promise<string> {
  const rest = restClient(stack.gatewayUrl, stack.agentKey);
  const started = await rest.requestConnection({ user_id: workspace, provider_name: providerName, return_url: "https://app.example.com/back" });
  // The capture call needs no agent key: the single-use state is the credential, as on the capture page.
  await restClient(stack.gatewayUrl).captureCredential(String(started.state), credentials);
  return String(started.connection_id);
}

/** Registers a static provider whose agents apply `strategy` to the fields of `schema`. */
export async function registerStatic(stack: ClientStack, name: string, authType: string, strategy: Record<string, unknown>, fields: string[]): Promise<string> {
  const properties = Object.fromEntries(fields.map((f) => [f, { type: "string", title: f }]));
  return registerProvider(stack.admin, {
    name, auth_type: authType,
    params: { credential_schema: { type: "object", required: fields.filter((f) => f !== "session_token"), properties }, auth_strategy: strategy },
  });
}

/** Registers the test IdP as an OAuth provider named `name`. */
export async function registerIdp(stack: ClientStack, idp: TestIdp, name: string, clientId: string, clientSecret: string): Promise<string> {
  return registerProvider(stack.admin, { name, auth_type: "oauth2", client_id: clientId, client_secret: clientSecret, issuer: idp.issuer, enable_discovery: true, scopes: ["openid", "email"] });
}

/** Runs the OAuth consent for a new connection of `workspace` to `providerName`; returns its id. */
export async function connectOAuth(stack: ClientStack, idp: TestIdp, providerName: string, workspace: string, accountId?: string): Promise<string> {
  const started = await restClient(stack.gatewayUrl, stack.agentKey).requestConnection({ user_id: workspace, provider_name: providerName, return_url: "https://app.example.com/back" });
  const res = await deliverCallback(stack.admin, await idp.authorize(String(started.auth_url), accountId === undefined ? {} : { accountId }));
  if (res.status !== 303) throw new Error(`the OAuth callback answered ${res.status}`);
  await res.body?.cancel();
  return String(started.connection_id);
}

/** The NexusClientError a promise rejects with; fails the test on any other outcome. */
export async function clientError(p: Promise<unknown>): Promise<NexusClientError> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof NexusClientError, `expected a NexusClientError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a rejection");
}
