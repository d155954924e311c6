/**
 * Sessions through the TypeScript client against a real Gateway and Broker:
 * an orchestrator agent delegates a connection to a sub-agent, which uses it
 * through authenticatedFetch on a session (one exchange, cached; refused on
 * a host outside the session's allowed_hosts before any request leaves), and
 * revocation ends it with invalid_grant on every transport.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { authenticatedFetch, type ClientLogger, createNexusClient, type IssuedSession, type NexusClient } from "../../src/client/mod.ts";
import { grpcTransport } from "../../src/client/node.ts";
import { agentKeyPair, registerAgent } from "../support/agents.ts";
import { type ApiStandIn, startApiStandIn } from "../support/api-stand-in.ts";
import { type ClientStack, clientError, connectOAuth, connectStatic, registerIdp, registerStatic, startClientStack } from "../support/client-stack.ts";
import { gatewayCallCounter } from "../support/gateway-call-counter.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";

/** A logger that keeps every line, to check that no session token is ever logged. */
function recordingLogger(): ClientLogger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push(JSON.stringify({ level, message, ...fields }));
  return { lines, debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

describe("sessions through the client: an orchestrator delegates to a sub-agent", () => {
  let stack: ClientStack;
  let idp: TestIdp;
  let api: ApiStandIn;
  let orchestrator: NexusClient;
  let sub: NexusClient;
  let subId = "";
  let third: NexusClient;
  let thirdId = "";
  let connectionId = "";
  let root: IssuedSession;
  let subKey = "";
  let childToken = "";
  let childSessionId = "";
  const counter = gatewayCallCounter();
  const logger = recordingLogger();
  const tokens: string[] = [];
  const key = "sk_alice_crm";

  before(async () => {
    stack = await startClientStack();
    api = await startApiStandIn();
    idp = await startTestIdp({ clients: [{ client_id: "agent-app", client_secret: "s3cret", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }] });
    await registerStatic(stack, "crm", "api_key", { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } }, ["api_key"]);
    await registerIdp(stack, idp, "idp", "agent-app", "s3cret");
    const subAgent = await registerAgent(stack.admin.broker.url, stack.adminKey, { name: "research-agent" });
    subId = subAgent.id;
    subKey = subAgent.apiKey;
    const keys = await agentKeyPair("ES256", "third-1");
    thirdId = (await registerAgent(stack.admin.broker.url, stack.adminKey, { name: "summary-agent", jwks: { keys: [keys.publicJwk] } })).id;
    // The orchestrator is the stack's agent, which owns the connections the helpers make.
    orchestrator = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, logger });
    sub = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: subAgent.apiKey, fetch: counter.fetch, logger });
    third = createNexusClient({ baseUrl: stack.gatewayUrl, agent: { id: thirdId, privateJwk: keys.privateJwk }, audience: "http://localhost:8090", logger });
    connectionId = await connectStatic(stack, "crm", "ws-alice", { api_key: key });
    api.check = (req) => ({ status: req.headers["x-api-key"] === key ? 200 : 401, body: { ok: true } });
  });
  after(async () => {
    await api.close();
    await idp.close();
    await stack.close();
    for (const token of tokens) assert.ok(!logger.lines.some((l) => l.includes(token)), "no session token is ever logged");
  });

  it("createSession issues a token for the sub-agent; both sides can read the session", async () => {
    root = await orchestrator.createSession({ connectionId, agentId: subId, ttlSeconds: 300, allowedHosts: ["127.0.0.1", "*.crm.example"] });
    tokens.push(root.sessionToken);
    assert.match(root.sessionId, /^[0-9a-f-]{36}$/);
    assert.match(root.sessionToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.deepEqual(root.allowedHosts, ["127.0.0.1", "*.crm.example"]);
    assert.equal(root.parentSessionId, undefined);
    assert.ok(Math.abs(root.expiresAt - (Date.now() / 1000 + 300)) < 5);
    for (const reader of [orchestrator, sub]) {
      const info = await reader.getSession(root.sessionId);
      assert.deepEqual([info.status, info.connectionId, info.agentId, info.workspaceId, info.delegatedByAgentId], ["active", connectionId, subId, "ws-alice", stack.agentId]);
    }
  });

  it("the sub-agent's authenticatedFetch works on the allowed host and is refused on another, with no request leaving", async () => {
    const crm = authenticatedFetch({ client: sub, sessionToken: root.sessionToken }, { logger });
    const ok = await crm(`${api.url}/contacts`);
    assert.equal(ok.status, 200);
    assert.equal(api.seen.at(-1)!.headers["x-api-key"], key);
    const seen = api.seen.length;
    // The same server under another name: were the request sent, the stand-in would record it.
    const elsewhere = api.url.replace("127.0.0.1", "localhost");
    const refused = await clientError(crm(`${elsewhere}/contacts`));
    assert.deepEqual([refused.reason, refused.code, refused.metadata.host], ["host_not_allowed", "permission_denied", "localhost"]);
    assert.match(refused.message, /not to "localhost"; nothing was sent/);
    const lookalike = await clientError(crm("https://crm.example.evil.test/contacts"));
    assert.equal(lookalike.reason, "host_not_allowed");
    assert.equal(api.seen.length, seen, "no request reached the API");
  });

  it("the exchange is cached: a burst and the calls after it cost one ExchangeToken", async () => {
    const crm = authenticatedFetch({ client: sub, sessionToken: root.sessionToken }, { logger });
    const before = counter.count("ExchangeToken");
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => crm(`${api.url}/c/${i}`).then((r) => r.status)));
    assert.deepEqual(new Set(statuses), new Set([200]));
    for (let i = 0; i < 5; i++) assert.equal((await crm(`${api.url}/again`)).status, 200);
    assert.equal(counter.count("ExchangeToken") - before, 1);
  });

  it("exchange() returns the credential with the session's hosts and never outlives the session", async () => {
    const result = await sub.exchange(root.sessionToken);
    assert.deepEqual(result.allowedHosts, ["127.0.0.1", "*.crm.example"]);
    assert.deepEqual(result.credential.strategy, { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key", allowed_hosts: "127.0.0.1,*.crm.example" } });
    assert.deepEqual([result.accessToken, result.tokenType], [key, "N_A"]);
    assert.ok(result.expiresIn > 250 && result.expiresIn <= 300, `expires_in ${result.expiresIn}`);
    assert.equal(result.credential.expiresAt, root.expiresAt);
  });

  it("refusals arrive as NexusClientError with the OAuth reason", async () => {
    const oauthConnection = await connectOAuth(stack, idp, "idp", "ws-alice");
    const session = await orchestrator.createSession({ connectionId: oauthConnection, agentId: subId, scopes: ["openid"], ttlSeconds: 120 });
    tokens.push(session.sessionToken);
    const narrowed = await sub.exchange(session.sessionToken, { scopes: ["openid"], resource: "idp" });
    assert.deepEqual([narrowed.scopes, narrowed.tokenType, narrowed.credential.strategy.type], [["openid"], "Bearer", "oauth2"]);
    const wider = await clientError(sub.exchange(session.sessionToken, { scopes: ["email"] }));
    assert.deepEqual([wider.reason, wider.retryable], ["invalid_scope", false]);
    assert.equal((await clientError(sub.exchange(session.sessionToken, { resource: "crm" }))).reason, "invalid_target");
    // A session token is useless without the credential of the agent it was given to.
    assert.equal((await clientError(orchestrator.exchange(session.sessionToken))).reason, "invalid_grant");
    assert.equal((await clientError(sub.exchange("not-a-session-token"))).reason, "invalid_grant");
    assert.equal((await clientError(sub.exchange(" "))).reason, "invalid_argument");
    const outside = await clientError(orchestrator.createSession({ connectionId: oauthConnection, agentId: subId, scopes: ["admin"] }));
    assert.equal(outside.reason, "invalid_scope");
  });

  it("the sub-agent delegates a narrower child to a key-pair agent; hosts outside its own are refused", async () => {
    const child = await sub.createSession({ connectionId, agentId: thirdId, ttlSeconds: 60, allowedHosts: ["127.0.0.1"] });
    tokens.push(child.sessionToken);
    childSessionId = child.sessionId;
    assert.equal(child.parentSessionId, root.sessionId);
    const wider = await clientError(sub.createSession({ connectionId, agentId: thirdId, allowedHosts: ["api.other.example"] }));
    assert.equal(wider.reason, "invalid_scope");
    const longer = await clientError(sub.createSession({ connectionId, agentId: thirdId, ttlSeconds: 3600 }));
    assert.equal(longer.reason, "invalid_argument");
    const summary = authenticatedFetch({ client: third, sessionToken: child.sessionToken }, { logger });
    assert.equal((await summary(`${api.url}/summary`)).status, 200);
    const info = await third.getSession(child.sessionId);
    assert.deepEqual([info.agentId, info.parentSessionId, info.delegatedByAgentId, info.allowedHosts], [thirdId, root.sessionId, subId, ["127.0.0.1"]]);
    childToken = child.sessionToken;
  });

  it("revoking the session makes the next exchange fail with invalid_grant, the child's too, over Connect, gRPC-Web and gRPC", async () => {
    const revoked = await orchestrator.revokeSession(root.sessionId);
    assert.deepEqual([revoked.sessionId, revoked.status], [root.sessionId, "revoked"]);
    const seen = api.seen.length;
    const fresh = authenticatedFetch({ client: sub, sessionToken: root.sessionToken }, { logger });
    const refused = await clientError(fresh(`${api.url}/after-revoke`));
    assert.deepEqual([refused.reason, refused.code], ["invalid_grant", "permission_denied"]);
    assert.match(refused.message, /revoked/);
    assert.equal(api.seen.length, seen, "nothing was sent to the API");
    const grpc = grpcTransport(stack.gatewayUrl);
    try {
      for (const transport of ["grpc-web", grpc] as const) {
        const over = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: subKey, transport, logger: {} });
        assert.equal((await clientError(over.exchange(root.sessionToken))).reason, "invalid_grant");
      }
    } finally {
      grpc.close();
    }
    // The child dies with its parent: revocation cascades.
    assert.equal((await clientError(third.exchange(childToken))).reason, "invalid_grant");
    assert.equal((await third.getSession(childSessionId)).status, "revoked");
    assert.equal((await sub.getSession(root.sessionId)).status, "revoked");
  });
});
