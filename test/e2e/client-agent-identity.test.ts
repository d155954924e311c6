/**
 * The TypeScript client as a registered agent against a real Gateway and
 * Broker: with its API key, and with assertions signed from its private JWK
 * (or by a signer function), a new one for every call (each retry, each poll
 * of waitForActive, authenticatedFetch, the gRPC transport), and the
 * Broker's refusals surfaced as NexusClientError reasons.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decodeJwt } from "jose";
import { authenticatedFetch, createAssertionSigner, createNexusClient, type NexusClient } from "../../src/client/mod.ts";
import { grpcTransport } from "../../src/client/node.ts";
import { type ApiStandIn, startApiStandIn } from "../support/api-stand-in.ts";
import { type ClientStack, clientError, registerStatic, startClientStack } from "../support/client-stack.ts";
import { restClient } from "../support/gateway-clients.ts";
import { agentKeyPair, registerAgent } from "../support/agents.ts";

// The test Gateway leaves GATEWAY_PUBLIC_URL (and GATEWAY_PORT) unset, so assertions name its default public URL.
const audience = "http://localhost:8090";
const workspace = "ws-agent-identity";

/** A fetch for the client that records the bearer credential of every Gateway call. */
function recordingFetch(): { fetch: typeof fetch; bearers: string[] } {
  const bearers: string[] = [];
  const wrapped: typeof fetch = (input, init) => {
    const req = new Request(input, init);
    bearers.push((req.headers.get("authorization") ?? "").replace(/^Bearer /, ""));
    return fetch(req);
  };
  return { fetch: wrapped, bearers };
}

const jtiOf = (jwt: string) => decodeJwt(jwt).jti;

describe("the client as a registered agent", () => {
  let stack: ClientStack;
  let api: ApiStandIn;
  let agentId = "";
  let keys: Awaited<ReturnType<typeof agentKeyPair>>;
  let recorded: ReturnType<typeof recordingFetch>;
  let client: NexusClient;
  let connectionId = "";
  const secret = "sk_agent_identity_1";

  /** Starts a connection as `as` and captures a static key for it, the way a user would. */
  async function connect(as: NexusClient, ws: string, key: string): Promise<string> {
    const started = await as.requestConnection({ userId: ws, providerName: "acme-key", returnUrl: "https://app.example.com/back" });
    await restClient(stack.gatewayUrl).captureCredential(started.state, { api_key: key });
    return started.connectionId;
  }

  before(async () => {
    stack = await startClientStack();
    api = await startApiStandIn();
    keys = await agentKeyPair("ES256", "signing-1");
    agentId = (await registerAgent(stack.admin.broker.url, stack.admin.adminKey, { name: "signing-agent", jwks: { keys: [keys.publicJwk] } })).id;
    await registerStatic(stack, "acme-key", "header", { type: "header", config: { header_name: "X-Acme-Key", credential_field: "api_key" } }, ["api_key"]);
    recorded = recordingFetch();
    client = createNexusClient({ baseUrl: stack.gatewayUrl, audience, agent: { id: agentId, privateJwk: keys.privateJwk }, fetch: recorded.fetch, logger: {} });
    connectionId = await connect(client, workspace, secret);
  });
  after(async () => {
    await api.close();
    await stack.close();
  });

  it("signs with the private JWK of a registered public key: getToken and resolveToken answer", async () => {
    const byId = await client.getToken(connectionId);
    assert.deepEqual(byId.credentials, { api_key: secret });
    const byWorkspace = await client.resolveToken(workspace, "acme-key");
    assert.deepEqual(byWorkspace.credentials, { api_key: secret });
    assert.equal(byWorkspace.connectionId, connectionId);
    const claims = decodeJwt(recorded.bearers.at(-1)!);
    assert.deepEqual([claims.iss, claims.sub, claims.aud, (claims.exp ?? 0) - (claims.iat ?? 0)], [agentId, agentId, audience, 60]);
  });

  it("makes 10 calls in a row, each with a new jti, none refused as a replay", async () => {
    const from = recorded.bearers.length;
    for (let i = 0; i < 10; i++) assert.deepEqual((await client.getToken(connectionId)).credentials, { api_key: secret });
    const jtis = recorded.bearers.slice(from).map(jtiOf);
    assert.equal(jtis.length, 10);
    assert.equal(new Set(jtis).size, 10);
  });

  it("signs a new assertion for each retry while the Broker is down", async () => {
    const retrying = recordingFetch();
    const patient = createNexusClient({
      baseUrl: stack.gatewayUrl, audience, agent: { id: agentId, privateJwk: keys.privateJwk }, fetch: retrying.fetch, logger: {},
      retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 },
    });
    await stack.stopBroker();
    try {
      assert.equal((await clientError(patient.getToken(connectionId))).code, "unavailable");
    } finally {
      await stack.startBroker();
    }
    assert.equal(retrying.bearers.length, 3);
    assert.equal(new Set(retrying.bearers.map(jtiOf)).size, 3);
    assert.deepEqual((await patient.getToken(connectionId)).credentials, { api_key: secret }, "none of those was recorded as used");
  });

  it("signs each poll of waitForActive", async () => {
    const started = await client.requestConnection({ userId: "ws-poll", providerName: "acme-key", returnUrl: "https://app.example.com/back" });
    const from = recorded.bearers.length;
    const waiting = client.waitForActive(started.connectionId, { intervalMs: 50, maxIntervalMs: 60, timeoutMs: 20_000 });
    while (recorded.bearers.length < from + 3) await new Promise((r) => setTimeout(r, 20));
    await restClient(stack.gatewayUrl).captureCredential(started.state, { api_key: "sk_poll" });
    assert.equal((await waiting).status, "active");
    const polls = recorded.bearers.slice(from).map(jtiOf);
    assert.ok(polls.length >= 4, `${polls.length} polls`);
    assert.equal(new Set(polls).size, polls.length);
  });

  it("authenticates authenticatedFetch's credential fetches and the gRPC transport the same way", async () => {
    api.check = (req) => ({ status: req.headers["x-acme-key"] === secret ? 200 : 401 });
    const acme = authenticatedFetch({ client, connectionId });
    assert.equal((await acme(`${api.url}/orders`)).status, 200);
    const grpc = grpcTransport(stack.gatewayUrl);
    try {
      const overGrpc = createNexusClient({ baseUrl: stack.gatewayUrl, audience, agent: { id: agentId, privateJwk: keys.privateJwk }, transport: grpc, logger: {} });
      for (let i = 0; i < 3; i++) assert.deepEqual((await overGrpc.resolveToken(workspace, "acme-key")).credentials, { api_key: secret });
    } finally {
      grpc.close();
    }
  });

  it("takes a signer function, for keys held elsewhere", async () => {
    const signer = createAssertionSigner({ agentId, privateJwk: keys.privateJwk, audience });
    const withSigner = createNexusClient({ baseUrl: stack.gatewayUrl, agent: { id: agentId, signer }, logger: {} });
    assert.deepEqual((await withSigner.getToken(connectionId)).credentials, { api_key: secret });
  });

  it("surfaces a wrong key, an unknown kid and a wrong audience as assertion_invalid", async () => {
    const impostor = await agentKeyPair("ES256", "signing-1"); // the registered kid, another key
    const stranger = await agentKeyPair("ES256", "unregistered");
    for (const [privateJwk, aud] of [[impostor.privateJwk, audience], [stranger.privateJwk, audience], [keys.privateJwk, "https://other.example"]] as const) {
      const wrong = createNexusClient({ baseUrl: stack.gatewayUrl, audience: aud, agent: { id: agentId, privateJwk }, logger: {} });
      const error = await clientError(wrong.getToken(connectionId));
      assert.deepEqual([error.code, error.reason, error.retryable], ["unauthenticated", "assertion_invalid", false]);
    }
  });

  it("uses the agent's API key just as well, and another agent is refused the connection", async () => {
    const again = await registerAgent(stack.admin.broker.url, stack.admin.adminKey, { name: "keyed-agent" });
    const keyed = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: again.apiKey, logger: {} });
    const own = await connect(keyed, "ws-keyed", "sk_keyed");
    assert.deepEqual((await keyed.getToken(own)).credentials, { api_key: "sk_keyed" });
    assert.equal((await clientError(keyed.getToken(connectionId))).reason, "agent_not_authorized");
    assert.equal((await clientError(client.getToken(own))).reason, "agent_not_authorized");
  });
});
