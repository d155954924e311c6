import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { brokerRest, deliverCallback, registerProvider } from "../support/broker-api.ts";
import { type GatewayCallError, type GatewayTestClient, connectJsonClient, grpcClient, grpcWebClient, restClient } from "../support/gateway-clients.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";

async function rejection(p: Promise<unknown>): Promise<GatewayCallError> {
  try {
    await p;
  } catch (error) {
    return error as GatewayCallError;
  }
  assert.fail("expected the call to fail");
}

describe("Gateway: the API.md flow on every protocol", () => {
  let stack: TestStack;
  let idp: TestIdp;

  before(async () => {
    idp = await startTestIdp({ clients: [{ client_id: "nexus", client_secret: "s3cret", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }] });
    stack = await startStack();
    await registerProvider(stack, { name: "test-idp", auth_type: "oauth2", client_id: "nexus", client_secret: "s3cret", issuer: idp.issuer, enable_discovery: true, scopes: ["openid", "email"], category: "identity", description: "Test IdP" });
    await registerProvider(stack, { name: "keyed", auth_type: "api_key" });
  });
  after(async () => {
    await stack.close();
    await idp.close();
  });

  const protocols: [string, (url: string, key?: string) => GatewayTestClient & { close?(): void }][] = [
    ["REST", restClient], ["Connect JSON", connectJsonClient], ["gRPC", grpcClient], ["gRPC-Web", grpcWebClient],
  ];

  for (const [name, make] of protocols) {
    describe(name, () => {
      let client: GatewayTestClient & { close?(): void };
      let anonymous: GatewayTestClient & { close?(): void };
      before(() => {
        client = make(stack.gateway.url, stack.agentKey);
        anonymous = make(stack.gateway.url);
      });
      after(() => {
        client.close?.();
        anonymous.close?.();
      });

      it("lists providers without an agent key, with public metadata only", async () => {
        const res = await anonymous.listProviders();
        const idpInfo = (res.providers as Record<string, unknown>[]).find((p) => p.name === "test-idp")!;
        assert.equal(idpInfo.auth_type, "oauth2");
        assert.equal(idpInfo.category, "identity");
        assert.deepEqual(idpInfo.scopes, ["openid", "email"]);
        assert.equal(JSON.stringify(res).includes("s3cret"), false);
        assert.equal(JSON.stringify(res).includes("client_id"), false);
      });

      it("connects an OAuth account: request-connection, consent, check-connection, token, refresh, resolve", async () => {
        const workspace = `ws-${name.replace(/\W/g, "")}`;
        const started = await client.requestConnection({ user_id: workspace, provider_name: "test-idp", return_url: "https://app.example.com/oauth/return" });
        assert.match(String(started.connection_id), /^[0-9a-f-]{36}$/);
        assert.match(String(started.auth_url), new RegExp(`^${idp.issuer}/`));
        assert.deepEqual(started.scopes, ["openid", "email"]);
        assert.equal((await client.checkConnection(String(started.connection_id))).status, "pending", "pending is pending, never failed");
        const pending = await rejection(client.getToken(String(started.connection_id)));
        assert.equal(pending.code, "failed_precondition");
        assert.equal(pending.reason, "connection_pending");
        const res = await deliverCallback(stack, await idp.authorize(String(started.auth_url)));
        assert.equal(res.status, 303);
        assert.equal((await client.checkConnection(String(started.connection_id))).status, "active");
        const token = await client.getToken(String(started.connection_id));
        assert.equal((token.strategy as Record<string, unknown>).type, "oauth2");
        const creds = token.credentials as Record<string, string>;
        assert.equal(creds.token_type, "Bearer");
        assert.equal(creds.refresh_token, undefined);
        assert.ok(Number(token.expires_at) > Date.now() / 1000);
        const me = await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${creds.access_token}` } });
        assert.equal(me.status, 200, "the credential works at the provider");
        const refreshed = await client.refresh(String(started.connection_id));
        assert.notEqual((refreshed.credentials as Record<string, string>).access_token, creds.access_token);
        const resolved = await client.resolve(workspace, "test-idp");
        assert.equal((resolved.credentials as Record<string, string>).access_token, (refreshed.credentials as Record<string, string>).access_token);
      });

      it("captures a static key with the state alone: capture-schema and capture-credential", async () => {
        const workspace = `ws-key-${name.replace(/\W/g, "")}`;
        const started = await client.requestConnection({ user_id: workspace, provider_name: "keyed", return_url: "https://app.example.com/back" });
        const schema = await anonymous.captureSchema(String(started.state));
        assert.equal(schema.provider_name, "keyed");
        assert.deepEqual((schema.schema as Record<string, unknown>).required, ["api_key"]);
        const captured = await anonymous.captureCredential(String(started.state), { api_key: `key-${name}` });
        assert.deepEqual({ connection_id: captured.connection_id, status: captured.status }, { connection_id: started.connection_id, status: "active" });
        const token = await client.resolve(workspace, "keyed");
        assert.deepEqual(token.strategy, { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } });
        assert.equal((token.credentials as Record<string, string>).api_key, `key-${name}`);
        const again = await rejection(anonymous.captureCredential(String(started.state), { api_key: "other" }));
        assert.equal(again.reason, "state_replayed");
      });

      it("refuses data-plane calls without a key or with a wrong key", async () => {
        const missing = await rejection(anonymous.getToken(crypto.randomUUID()));
        assert.equal(missing.code, "unauthenticated");
        const wrong = await rejection(make(stack.gateway.url, "not-the-key-at-all-123").requestConnection({ user_id: "w", provider_name: "keyed", return_url: "https://app.example.com/" }));
        assert.equal(wrong.code, "unauthenticated");
      });
    });
  }

  describe("errors keep their reason, code and status on REST and gRPC", () => {
    let rest: GatewayTestClient;
    let grpc: GatewayTestClient & { close(): void };
    before(() => {
      rest = restClient(stack.gateway.url, stack.agentKey);
      grpc = grpcClient(stack.gateway.url, stack.agentKey);
    });
    after(() => grpc.close());

    async function both(run: (c: GatewayTestClient) => Promise<unknown>, code: string, reason: string, httpStatus: number, message?: RegExp) {
      const r = await rejection(run(rest));
      assert.deepEqual([r.code, r.reason, r.httpStatus], [code, reason, httpStatus], r.message);
      assert.ok(r.message.startsWith(`${reason}: `), r.message);
      if (message) assert.match(r.message, message);
      const g = await rejection(run(grpc));
      assert.deepEqual([g.code, g.reason], [code, reason], g.message);
    }

    it("connection_not_found", () => both((c) => c.getToken(crypto.randomUUID()), "not_found", "connection_not_found", 404));
    it("provider_not_found", () => both((c) => c.requestConnection({ user_id: "w", provider_name: "nope", return_url: "https://app.example.com/" }), "not_found", "provider_not_found", 404));
    it("invalid_argument naming the field: a connection id that is not a UUID", () => both((c) => c.getToken("not-a-uuid"), "invalid_argument", "invalid_argument", 400, /connection_id/));
    // The Broker's return URL rule, applied at the Gateway already: the same reason either way.
    it("return_url_rejected naming the field: a relative return_url", () => both((c) => c.requestConnection({ user_id: "w", provider_name: "keyed", return_url: "/back" }), "invalid_argument", "return_url_rejected", 400, /return_url/));
    it("invalid_argument naming the field: a bad provider name", () => both((c) => c.requestConnection({ user_id: "w", provider_name: "Not A Name", return_url: "https://app.example.com/" }), "invalid_argument", "invalid_argument", 400, /provider_name/));
    it("invalid_argument naming the field: a scope with a space", () => both((c) => c.requestConnection({ user_id: "w", provider_name: "keyed", scopes: ["a b"], return_url: "https://app.example.com/" }), "invalid_argument", "invalid_argument", 400, /scopes/));
    it("return_url_rejected", () => both((c) => c.requestConnection({ user_id: "w", provider_name: "keyed", return_url: "https://evil.example/" }), "invalid_argument", "return_url_rejected", 400));
    it("state_invalid", () => both((c) => c.captureSchema("a.b.c"), "invalid_argument", "state_invalid", 400));
    it("connection_pending", async () => {
      const started = await rest.requestConnection({ user_id: "w", provider_name: "keyed", return_url: "https://app.example.com/" });
      await both((c) => c.getToken(String(started.connection_id)), "failed_precondition", "connection_pending", 400);
    });
    it("state_expired", async () => {
      const started = await rest.requestConnection({ user_id: "w", provider_name: "keyed", return_url: "https://app.example.com/" });
      await stack.db.sql`update handshakes set expires_at = now() - interval '1 second' where connection_id = ${String(started.connection_id)}`;
      await both((c) => c.captureSchema(String(started.state)), "failed_precondition", "state_expired", 400);
    });
    it("not_refreshable", async () => {
      const started = await rest.requestConnection({ user_id: "w-nr", provider_name: "keyed", return_url: "https://app.example.com/" });
      await rest.captureCredential(String(started.state), { api_key: "k" });
      await both((c) => c.refresh(String(started.connection_id)), "failed_precondition", "not_refreshable", 400);
    });
    it("attention_required", async () => {
      const started = await rest.requestConnection({ user_id: "w-att", provider_name: "test-idp", return_url: "https://app.example.com/" });
      await deliverCallback(stack, await idp.authorize(String(started.auth_url)));
      await idp.revokeAll();
      await both((c) => c.refresh(String(started.connection_id)), "failed_precondition", "attention_required", 400);
      await both((c) => c.getToken(String(started.connection_id)), "failed_precondition", "attention_required", 400);
      assert.deepEqual(await rest.checkConnection(String(started.connection_id)), { status: "attention_required", reason: "invalid_grant" });
    });
  });

  it("names the agent in the Broker's audit events", async () => {
    const started = await restClient(stack.gateway.url, stack.agentKey).requestConnection({ user_id: "w-audit", provider_name: "keyed", return_url: "https://app.example.com/" });
    const audit = await brokerRest(stack, "GET", `/audit?connection_id=${started.connection_id}&event_type=connection.started`);
    const events = audit.body.events as { caller: string }[];
    assert.equal(events.length, 1);
    assert.match(events[0]!.caller, /^agent:[0-9a-f]{8} via key:[0-9a-f]{8}$/);
    assert.ok(!stack.logs.join("").includes(stack.agentKey), "the agent key never reaches the logs");
  });
});
