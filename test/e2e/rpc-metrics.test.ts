import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { startStack, type TestStack } from "../support/stack.ts";

/** The value of one series in a Prometheus text exposition (0 when absent): the labels must match exactly. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const found = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((p) => [p[1]!, p[2]!]));
    if (Object.keys(found).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(m[3]);
  }
  return 0;
}

const transports: Record<string, (baseUrl: string) => Transport> = {
  gRPC: (baseUrl) => createGrpcTransport({ baseUrl }),
  "gRPC-Web": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
  Connect: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
};

describe("RPC metrics (grpc_server_*) on both services, every protocol", () => {
  let stack: TestStack;
  before(async () => {
    stack = await startStack();
    await stack.db.sql`insert into providers (id, name, auth_type, description, category, scopes)
      values (${randomUUID()}, 'github', 'oauth2', 'GitHub', 'developer', ${["read:user"]})`;
  });
  after(() => stack.close());

  const metrics = async (url: string) => (await fetch(`${url}/metrics`)).text();

  /** Makes one call that succeeds and one that fails, and checks every series each one moved by exactly one. */
  async function check(url: string, service: DescService, method: string, failure: { method: string; code: string }, calls: { ok: () => Promise<unknown>; fail: () => Promise<unknown> }) {
    const before = await metrics(url);
    await calls.ok();
    await assert.rejects(calls.fail());
    const now = await metrics(url);
    const delta = (name: string, labels: Record<string, string>) => sample(now, name, labels) - sample(before, name, labels);
    for (const [m, code] of [[method, "OK"], [failure.method, failure.code]] as const) {
      const labels = { grpc_type: "unary", grpc_service: service.typeName, grpc_method: m };
      assert.equal(delta("grpc_server_started_total", labels), 1, `${m} started`);
      assert.equal(delta("grpc_server_handled_total", { ...labels, grpc_code: code }), 1, `${m} handled with ${code}`);
      assert.equal(delta("grpc_server_handling_seconds_count", labels), 1, `${m} timed`);
      assert.ok(sample(now, "grpc_server_handling_seconds_bucket", { ...labels, le: "+Inf" }) >= 1);
    }
  }

  for (const [protocol, transport] of Object.entries(transports)) {
    it(`Gateway over ${protocol}: OK and NotFound`, async () => {
      const client: Client<typeof GatewayService> = createClient(GatewayService, transport(stack.gateway.url));
      const headers = { authorization: `Bearer ${stack.agentKey}` };
      await check(stack.gateway.url, GatewayService, "ListProviders", { method: "CheckConnection", code: "NotFound" }, {
        ok: () => client.listProviders({}),
        fail: () => client.checkConnection({ connectionId: randomUUID() }, { headers }),
      });
    });

    it(`Broker over ${protocol}: OK and Unauthenticated`, async () => {
      const client = createClient(ProviderService, transport(stack.broker.url));
      await check(stack.broker.url, ProviderService, "ListProviders", { method: "GetProviderByName", code: "Unauthenticated" }, {
        ok: () => client.listProviders({}, { headers: { "x-api-key": stack.adminKey } }),
        fail: () => client.getProviderByName({ name: "github" }),
      });
    });
  }

  it("Gateway over REST: OK and InvalidArgument, counted under their methods", async () => {
    const headers = { authorization: `Bearer ${stack.agentKey}` };
    await check(stack.gateway.url, GatewayService, "ListProviders", { method: "CheckConnection", code: "InvalidArgument" }, {
      ok: async () => assert.equal((await fetch(`${stack.gateway.url}/v1/providers`)).status, 200),
      fail: async () => {
        const res = await fetch(`${stack.gateway.url}/v1/check-connection/not-a-uuid`, { headers });
        throw new Error(`HTTP ${res.status}: ${await res.text()}`);
      },
    });
  });

  it("Broker over REST: OK and NotFound, counted under their methods", async () => {
    const headers = { "x-api-key": stack.adminKey };
    await check(stack.broker.url, ProviderService, "ListProviders", { method: "GetProvider", code: "NotFound" }, {
      ok: async () => assert.equal((await fetch(`${stack.broker.url}/providers`, { headers })).status, 200),
      fail: async () => {
        const res = await fetch(`${stack.broker.url}/providers/${randomUUID()}`, { headers });
        assert.equal(res.status, 404);
        throw new Error("not found");
      },
    });
  });

  it("makes no series for paths that are not methods", async () => {
    await fetch(`${stack.gateway.url}/nexus.gateway.v1.GatewayService/NoSuchMethod`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    await fetch(`${stack.gateway.url}/nexus.nope.v1.Evil/Method`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    await fetch(`${stack.gateway.url}/v1/no-such-route`);
    const text = await metrics(stack.gateway.url);
    assert.doesNotMatch(text, /NoSuchMethod|nexus\.nope|no-such-route/);
    const services = new Set([...text.matchAll(/^grpc_server_started_total\{[^}]*grpc_service="([^"]+)"/gm)].map((m) => m[1]));
    assert.deepEqual([...services].sort(), [GatewayService.typeName]);
  });
});
