import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as http2 from "node:http2";
import { connect as netConnect } from "node:net";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ServerReflection as ReflectionV1Alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { grpcJsClient } from "../support/grpc-js.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;

async function h2Get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const session = http2.connect(u.origin);
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ":method": "GET", ":path": u.pathname + u.search, ...headers });
      let status = 0;
      let body = "";
      req.on("response", (h) => (status = Number(h[":status"])));
      req.setEncoding("utf8");
      req.on("data", (c: string) => (body += c));
      req.on("end", () => resolve({ status, body }));
      req.on("error", reject);
      req.end();
    });
  } finally {
    session.close();
  }
}

describe("every protocol on both ports", () => {
  let stack: TestStack;
  before(async () => {
    stack = await startStack();
    await stack.db.sql`insert into providers (id, name, auth_type, description, category, scopes)
      values (${randomUUID()}, 'github', 'oauth2', 'GitHub', 'developer', ${["read:user"]})`;
  });
  after(() => stack.close());

  describe("Gateway", () => {
    it("answers gRPC from @grpc/grpc-js loading the .proto files", async () => {
      const gw = grpcJsClient(stack.gateway.url, "nexus/gateway/v1/gateway_service.proto", "nexus.gateway.v1.GatewayService");
      try {
        const res = await gw.ListProviders!({});
        assert.deepEqual((res.providers as { name: string }[]).map((p) => p.name), ["github"]);
      } finally {
        gw.close();
      }
    });

    it("answers gRPC-Web over HTTP/1.1", async () => {
      const client = createClient(GatewayService, createGrpcWebTransport({ baseUrl: stack.gateway.url, httpVersion: "1.1" }));
      const res = await client.listProviders({});
      assert.equal(res.providers[0]?.name, "github");
      assert.equal(res.providers[0]?.authType, "oauth2");
    });

    it("answers Connect JSON (plain fetch) and Connect binary over HTTP/2", async () => {
      const res = await fetch(`${stack.gateway.url}/nexus.gateway.v1.GatewayService/ListProviders`, {
        method: "POST", headers: { "content-type": "application/json" }, body: "{}",
      });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        providers: [{ id: (await stack.db.sql`select id from providers`)[0]!.id, name: "github", authType: "oauth2", category: "developer", description: "GitHub", scopes: ["read:user"] }],
      });
      const binary = createClient(GatewayService, createConnectTransport({ baseUrl: stack.gateway.url, httpVersion: "2", useBinaryFormat: true }));
      assert.equal((await binary.listProviders({})).providers.length, 1);
    });

    it("answers REST with snake_case JSON over HTTP/1.1 and HTTP/2", async () => {
      const res = await fetch(`${stack.gateway.url}/v1/providers`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { providers: Record<string, unknown>[] };
      assert.equal(body.providers[0]!.auth_type, "oauth2");
      const h2 = await h2Get(`${stack.gateway.url}/v1/providers`);
      assert.equal(h2.status, 200);
      assert.match(h2.body, /"auth_type":"oauth2"/);
    });

    it("answers health over gRPC and GET /healthz, and serves /metrics", async () => {
      const health = grpcJsClient(stack.gateway.url, "grpc/health/v1/health.proto", "grpc.health.v1.Health");
      try {
        assert.equal((await health.Check!({ service: "" })).status, "SERVING");
        assert.equal((await health.Check!({ service: "nexus.gateway.v1.GatewayService" })).status, "SERVING");
      } finally {
        health.close();
      }
      const healthz = await fetch(`${stack.gateway.url}/healthz`);
      assert.equal(healthz.status, 200);
      assert.deepEqual(await healthz.json(), { status: "SERVING" });
      const metrics = await fetch(`${stack.gateway.url}/metrics`);
      assert.match(metrics.headers.get("content-type") ?? "", /text\/plain/);
      assert.match(await metrics.text(), /process_cpu_user_seconds_total/);
    });

    it("lists its methods through reflection with buf curl and no schema", async () => {
      const { stdout } = await run("npx", ["--no-install", "buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-methods", stack.gateway.url], { cwd: root });
      assert.match(stdout, /^nexus\.gateway\.v1\.GatewayService\/GetToken$/m);
      assert.match(stdout, /^nexus\.gateway\.v1\.GatewayService\/RequestConnection$/m);
      const call = await run("npx", ["--no-install", "buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", "{}",
        `${stack.gateway.url}/nexus.gateway.v1.GatewayService/ListProviders`], { cwd: root });
      assert.match(call.stdout, /"name": "github"/);
    });

    it("answers reflection v1alpha for older tools", async () => {
      const client = createClient(ReflectionV1Alpha, createGrpcTransport({ baseUrl: stack.gateway.url }));
      async function* one() {
        yield { messageRequest: { case: "listServices" as const, value: "" } };
      }
      for await (const res of client.serverReflectionInfo(one())) {
        assert.equal(res.messageResponse.case, "listServicesResponse");
        const names = res.messageResponse.case === "listServicesResponse" ? res.messageResponse.value.service.map((s) => s.name) : [];
        assert.ok(names.includes("nexus.gateway.v1.GatewayService"));
        assert.ok(names.includes("grpc.health.v1.Health"));
      }
    });
  });

  describe("Broker", () => {
    it("answers gRPC, gRPC-Web, Connect and REST with the API key, and refuses calls without it", async () => {
      const pv = grpcJsClient(stack.broker.url, "nexus/broker/v1/provider_service.proto", "nexus.broker.v1.ProviderService");
      try {
        const res = await pv.ListProviders!({}, { "x-api-key": stack.adminKey });
        assert.equal((res.providers as { name: string }[])[0]!.name, "github");
        await assert.rejects(pv.ListProviders!({}), (e: { code: number }) => e.code === 16);
      } finally {
        pv.close();
      }
      const web = createClient(ProviderService, createGrpcWebTransport({ baseUrl: stack.broker.url, httpVersion: "1.1" }));
      assert.equal((await web.listProviders({}, { headers: { authorization: `Bearer ${stack.adminKey}` } })).providers.length, 1);
      const connect = await fetch(`${stack.broker.url}/nexus.broker.v1.ProviderService/ListProviders`, {
        method: "POST", headers: { "content-type": "application/json", "x-api-key": stack.adminKey }, body: "{}",
      });
      assert.equal(connect.status, 200);
      const rest = await fetch(`${stack.broker.url}/providers`, { headers: { "x-api-key": stack.adminKey } });
      assert.equal(rest.status, 200);
      const body = (await rest.json()) as { providers: Record<string, unknown>[] };
      assert.equal(body.providers[0]!.name, "github");
      assert.equal(body.providers[0]!.client_secret, undefined);
      const denied = await fetch(`${stack.broker.url}/providers`);
      assert.equal(denied.status, 401);
      assert.deepEqual(await denied.json(), {
        code: "unauthenticated",
        message: "unauthenticated: missing API key: send Authorization: Bearer <key> or X-API-Key: <key>",
        details: [{ type: "google.rpc.ErrorInfo", value: (await (await fetch(`${stack.broker.url}/providers`)).json() as { details: { value: string }[] }).details[0]!.value, debug: { reason: "unauthenticated", domain: "nexus.dev" } }],
      });
    });

    it("answers health, reflection and /metrics without a key", async () => {
      const health = grpcJsClient(stack.broker.url, "grpc/health/v1/health.proto", "grpc.health.v1.Health");
      try {
        assert.equal((await health.Check!({ service: "" })).status, "SERVING");
      } finally {
        health.close();
      }
      assert.equal((await fetch(`${stack.broker.url}/healthz`)).status, 200);
      const { stdout } = await run("npx", ["--no-install", "buf", "curl", "--protocol", "grpc", "--list-methods", stack.broker.url], { cwd: root });
      assert.match(stdout, /^nexus\.broker\.v1\.ProviderService\/CreateProvider$/m);
      assert.match(stdout, /^nexus\.broker\.v1\.ConnectionService\/GetToken$/m);
      const metrics = await (await fetch(`${stack.broker.url}/metrics`)).text();
      assert.match(metrics, /nodejs_heap_size_total_bytes/);
      // Visible before the first loss, so that an alert on it has a series to watch.
      assert.match(metrics, /^nexus_audit_events_dropped_total\{reason="queue_full"\} 0$/m);
    });
  });

  describe("CORS", () => {
    it("answers a preflight from an allowed origin with the gRPC-Web and Connect headers", async () => {
      const res = await fetch(`${stack.gateway.url}/nexus.gateway.v1.GatewayService/GetToken`, {
        method: "OPTIONS",
        headers: { origin: "https://app.example.com", "access-control-request-method": "POST", "access-control-request-headers": "content-type,x-grpc-web,x-user-agent,authorization" },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example.com");
      assert.match(res.headers.get("access-control-allow-headers") ?? "", /x-grpc-web/);
      assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
      const actual = await fetch(`${stack.gateway.url}/v1/providers`, { headers: { origin: "https://app.example.com" } });
      assert.equal(actual.headers.get("access-control-allow-origin"), "https://app.example.com");
      assert.match(actual.headers.get("access-control-expose-headers") ?? "", /grpc-status/);
    });

    it("refuses a preflight and a request from an origin that is not allowed", async () => {
      for (const origin of ["https://evil.example", "https://app.example.com.evil.example", "http://app.example.com"]) {
        const pre = await fetch(`${stack.gateway.url}/v1/providers`, {
          method: "OPTIONS", headers: { origin, "access-control-request-method": "GET" },
        });
        assert.equal(pre.status, 403, origin);
        assert.equal(pre.headers.get("access-control-allow-origin"), null);
        const res = await fetch(`${stack.gateway.url}/v1/providers`, { headers: { origin } });
        assert.equal(res.status, 403, origin);
        assert.equal(res.headers.get("access-control-allow-origin"), null);
      }
    });
  });

  describe("bad input gets a clear error and the server keeps serving", () => {
    const stillServing = async () => {
      assert.equal((await fetch(`${stack.gateway.url}/healthz`)).status, 200);
      assert.equal((await fetch(`${stack.broker.url}/healthz`)).status, 200);
    };
    const expectError = async (res: Response, status: number, code: string, message: RegExp) => {
      assert.equal(res.status, status);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(body.code, code);
      assert.match(body.message, message);
    };

    it("malformed JSON, over REST and over Connect", async () => {
      await expectError(await fetch(`${stack.gateway.url}/v1/request-connection`, {
        method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${stack.agentKey}` }, body: '{"user_id": ',
      }), 400, "invalid_argument", /not valid JSON/);
      await expectError(await fetch(`${stack.gateway.url}/nexus.gateway.v1.GatewayService/ListProviders`, {
        method: "POST", headers: { "content-type": "application/json" }, body: "{",
      }), 400, "invalid_argument", /.+/);
      await stillServing();
    });

    it("a wrong content type", async () => {
      const res = await fetch(`${stack.gateway.url}/v1/request-connection`, {
        method: "POST", headers: { "content-type": "text/plain", authorization: `Bearer ${stack.agentKey}` }, body: "hello",
      });
      await expectError(res, 415, "invalid_argument", /text\/plain.*application\/json/);
      const form = await fetch(`${stack.gateway.url}/v1/request-connection`, {
        method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${stack.agentKey}` }, body: '{"user_id":"x"}',
      });
      await expectError(form, 415, "invalid_argument", /Content-Type: application\/json/);
      await stillServing();
    });

    it("an oversized body: 413 payload_too_large (never 429, which invites a retry)", async () => {
      const big = JSON.stringify({ user_id: "x".repeat(2 * 1024 * 1024) });
      await expectError(await fetch(`${stack.gateway.url}/v1/request-connection`, {
        method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${stack.agentKey}` }, body: big,
      }), 413, "resource_exhausted", /payload_too_large/);
      const connect = await fetch(`${stack.gateway.url}/nexus.gateway.v1.GatewayService/RequestConnection`, {
        method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${stack.agentKey}` }, body: big,
      });
      assert.equal(connect.status, 413);
      const body = (await connect.json()) as { code: string; message: string };
      assert.equal(body.code, "resource_exhausted");
      assert.match(body.message, /^payload_too_large: /);
      await stillServing();
    });

    it("an unknown route, and a wrong method on a known one", async () => {
      await expectError(await fetch(`${stack.gateway.url}/v1/nope`), 404, "not_found", /no route for GET \/v1\/nope/);
      await expectError(await fetch(`${stack.gateway.url}/v1/providers`, { method: "DELETE" }), 405, "not_found", /use GET/);
      await stillServing();
    });

    it("a 10 KB header value", async () => {
      await expectError(await fetch(`${stack.gateway.url}/v1/providers`, { headers: { "x-big": "a".repeat(10 * 1024) } }),
        431, "resource_exhausted", /header "x-big" is longer than 8192 bytes/);
      const h2 = await h2Get(`${stack.gateway.url}/v1/providers`, { "x-big": "b".repeat(10 * 1024) });
      assert.equal(h2.status, 431);
      await stillServing();
    });

    it("garbage on the socket", async () => {
      const reply = await new Promise<string>((resolve) => {
        const s = netConnect(stack.gateway.port, "127.0.0.1", () => s.write("\x00\x01 not http at all\r\n\r\n"));
        let data = "";
        s.on("data", (d) => (data += d));
        s.on("close", () => resolve(data));
      });
      assert.match(reply, /^HTTP\/1\.1 400/);
      await stillServing();
    });
  });
});
