import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createNexusClient, type NexusClient } from "../../src/client/mod.ts";
import { type GrpcTransport, grpcTransport } from "../../src/client/node.ts";
import { deliverCallback } from "../support/broker-api.ts";
import { type ClientStack, clientError, registerIdp, registerStatic, startClientStack } from "../support/client-stack.ts";
import { restClient } from "../support/gateway-clients.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";

describe("the client over Connect, gRPC-Web and gRPC", () => {
  let stack: ClientStack;
  let idp: TestIdp;
  const grpc: GrpcTransport[] = [];

  before(async () => {
    idp = await startTestIdp({ clients: [{ client_id: "agent-app", client_secret: "s3cret", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }] });
    stack = await startClientStack();
    await registerIdp(stack, idp, "idp", "agent-app", "s3cret");
    await registerStatic(stack, "keyed", "api_key", { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } }, ["api_key"]);
  });
  after(async () => {
    for (const t of grpc) t.close();
    await stack.close();
    await idp.close();
  });

  /** Records the content type of every request the fetch-based transports send. */
  const contentTypes: string[] = [];
  const recordingFetch: typeof fetch = (input, init) => {
    contentTypes.push(new Headers(init?.headers).get("content-type") ?? "");
    return fetch(input, init);
  };
  // The wire format proves which protocol ran; gRPC goes over Node's HTTP/2, not fetch.
  const transports: [string, () => NexusClient, string | undefined][] = [
    ["Connect", () => createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, fetch: recordingFetch, logger: {} }), "application/json"],
    ["gRPC-Web", () => createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, transport: "grpc-web", fetch: recordingFetch, logger: {} }), "application/grpc-web+proto"],
    ["gRPC", () => {
      const transport = grpcTransport(stack.gatewayUrl);
      grpc.push(transport);
      return createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, transport, fetch: recordingFetch, logger: {} });
    }, undefined],
  ];

  for (const [name, make, contentType] of transports) {
    it(`${name}: requestConnection, checkConnection, getToken, resolveToken, refresh, and typed errors`, async () => {
      contentTypes.length = 0;
      const client = make();
      const workspace = `ws-${name.replace(/\W/g, "").toLowerCase()}`;

      const started = await client.requestConnection({ userId: workspace, providerName: "idp", returnUrl: "https://app.example.com/back" });
      assert.match(started.connectionId, /^[0-9a-f-]{36}$/);
      assert.ok(started.authUrl.startsWith(`${idp.issuer}/`));
      assert.deepEqual(started.scopes, ["openid", "email"]);
      assert.ok(started.expiresAt > Date.now() / 1000);
      assert.deepEqual(await client.checkConnection(started.connectionId), { status: "pending", reason: "" });
      const res = await deliverCallback(stack.admin, await idp.authorize(started.authUrl));
      assert.equal(res.status, 303);
      assert.equal((await client.checkConnection(started.connectionId)).status, "active");

      const token = await client.getToken(started.connectionId);
      assert.deepEqual(token.strategy, { type: "oauth2", config: {} });
      assert.equal(token.credentials.token_type, "Bearer");
      assert.equal(token.credentials.refresh_token, undefined);
      assert.ok(token.expiresAt! > Date.now() / 1000);
      const refreshed = await client.refresh(started.connectionId);
      assert.notEqual(refreshed.credentials.access_token, token.credentials.access_token);
      const resolved = await client.resolveToken(workspace, "idp");
      assert.equal(resolved.credentials.access_token, refreshed.credentials.access_token);

      const byId = await client.requestConnection({ userId: workspace, providerId: started.providerId, returnUrl: "https://app.example.com/back" });
      assert.equal(byId.providerId, started.providerId);

      const missing = await clientError(client.getToken(crypto.randomUUID()));
      assert.deepEqual([missing.code, missing.reason, missing.retryable], ["not_found", "connection_not_found", false]);
      const pending = await clientError(client.getToken(byId.connectionId));
      assert.deepEqual([pending.code, pending.reason], ["failed_precondition", "connection_pending"]);
      const noProvider = await clientError(client.requestConnection({ userId: workspace, providerName: "nope", returnUrl: "https://app.example.com/" }));
      assert.equal(noProvider.reason, "provider_not_found");
      if (contentType === undefined) assert.deepEqual(contentTypes, []);
      else assert.deepEqual(new Set(contentTypes), new Set([contentType]));
    });
  }

  it("gRPC: a wrong agent key is unauthenticated (the key really travels in the interceptor)", async () => {
    const transport = grpcTransport(stack.gatewayUrl);
    grpc.push(transport);
    const wrong = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: "wrong-key-0123456789abcdef", transport, logger: {} });
    assert.equal((await clientError(wrong.checkConnection(crypto.randomUUID()))).code, "unauthenticated");
  });

  describe("waitForActive", () => {
    let client: NexusClient;
    before(() => {
      client = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, logger: {} });
    });

    it("resolves when a pending static connection becomes active through capture", async () => {
      const started = await client.requestConnection({ userId: "ws-wait", providerName: "keyed", returnUrl: "https://app.example.com/back" });
      let checks = 0;
      const counting = createNexusClient({
        baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, logger: {},
        fetch: (input, init) => (checks++, fetch(input, init)),
      });
      const waiting = counting.waitForActive(started.connectionId, { intervalMs: 50, maxIntervalMs: 200, timeoutMs: 10_000 });
      setTimeout(() => void restClient(stack.gatewayUrl).captureCredential(started.state, { api_key: "captured" }), 400);
      assert.deepEqual(await waiting, { status: "active", reason: "" });
      assert.ok(checks >= 2, "it polled while pending");
      assert.ok(checks < 15, `the interval grew (${checks} checks in ~400 ms)`);
    });

    it("rejects with connection_failed when the user denies consent", async () => {
      const started = await client.requestConnection({ userId: "ws-deny", providerName: "idp", returnUrl: "https://app.example.com/back" });
      const waiting = client.waitForActive(started.connectionId, { intervalMs: 50, timeoutMs: 10_000 });
      const res = await deliverCallback(stack.admin, await idp.authorize(started.authUrl, { deny: true }));
      await res.body?.cancel();
      const e = await clientError(waiting);
      assert.deepEqual([e.reason, e.metadata.status, e.metadata.status_reason], ["connection_failed", "failed", "access_denied"]);
    });

    it("rejects with deadline_exceeded after timeoutMs", async () => {
      const started = await client.requestConnection({ userId: "ws-slow", providerName: "keyed", returnUrl: "https://app.example.com/back" });
      const t0 = Date.now();
      const e = await clientError(client.waitForActive(started.connectionId, { intervalMs: 50, timeoutMs: 300 }));
      assert.equal(e.reason, "deadline_exceeded");
      assert.ok(Date.now() - t0 < 2000);
    });

    it("an abort rejects promptly with the signal's reason and leaves no timer behind", async () => {
      const started = await client.requestConnection({ userId: "ws-abort", providerName: "keyed", returnUrl: "https://app.example.com/back" });
      const live = new Set<unknown>();
      const timers = {
        setTimeout: (fn: () => void, ms: number) => {
          const h = setTimeout(() => (live.delete(h), fn()), ms);
          live.add(h);
          return h;
        },
        clearTimeout: (h: unknown) => (live.delete(h), clearTimeout(h as NodeJS.Timeout)),
      };
      const timed = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, logger: {}, timers });
      const controller = new AbortController();
      const waiting = timed.waitForActive(started.connectionId, { signal: controller.signal, intervalMs: 5000 });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(live.size, 1, "it is sleeping between checks");
      const reason = new Error("agent shutting down");
      const t0 = Date.now();
      controller.abort(reason);
      await assert.rejects(waiting, (e) => e === reason);
      assert.ok(Date.now() - t0 < 100, "promptly, not at the end of the 5 s pause");
      assert.equal(live.size, 0, "the pause's timer was cleared");
    });
  });
});
