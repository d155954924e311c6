import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { grpcJsClient } from "../support/grpc-js.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const transports: Record<string, (baseUrl: string) => Transport> = {
  gRPC: (baseUrl) => createGrpcTransport({ baseUrl }),
  "gRPC-Web": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
  Connect: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
};

describe("request ids", () => {
  let stack: TestStack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  /** The services whose log lines name `id`, and how many lines do. */
  function loggedBy(id: string): { services: Set<string>; lines: number } {
    const lines = stack.logs.map((l) => JSON.parse(l) as { service: string; request_id?: string }).filter((l) => l.request_id === id);
    return { services: new Set(lines.map((l) => l.service)), lines: lines.length };
  }

  it("echoes a sane id over REST, in both services' log lines for the request, carried to the Broker", async () => {
    const id = `req-${randomUUID()}.a:b_c`;
    const res = await fetch(`${stack.gateway.url}/v1/check-connection/${randomUUID()}`, {
      headers: { authorization: `Bearer ${stack.agentKey}`, "x-request-id": id },
    });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get("x-request-id"), id);
    assert.deepEqual(loggedBy(id).services, new Set(["gateway", "broker"]));
  });

  for (const [protocol, transport] of Object.entries(transports)) {
    it(`echoes the id over ${protocol}, on a success and on an error`, async () => {
      const client = createClient(GatewayService, transport(stack.gateway.url));
      const okId = `ok-${randomUUID()}`;
      let header: Headers | undefined;
      await client.listProviders({}, { headers: { "x-request-id": okId }, onHeader: (h) => (header = h) });
      assert.equal(header?.get("x-request-id"), okId);
      const errId = `err-${randomUUID()}`;
      const error = await client.checkConnection({ connectionId: randomUUID() }, { headers: { authorization: `Bearer ${stack.agentKey}`, "x-request-id": errId } })
        .then(() => undefined, (e: unknown) => ConnectError.from(e));
      assert.equal(error?.code, 5);
      // gRPC carries the id in the headers and the trailers, which connect-es merges into one list.
      assert.deepEqual(new Set(error.metadata.get("x-request-id")?.split(", ")), new Set([errId]));
      assert.deepEqual(loggedBy(errId).services, new Set(["gateway", "broker"]));
    });
  }

  it("puts the id in a gRPC error's trailers, where @grpc/grpc-js clients read it", async () => {
    const gw = grpcJsClient(stack.gateway.url, "nexus/gateway/v1/gateway_service.proto", "nexus.gateway.v1.GatewayService");
    const id = `grpc-js-${randomUUID()}`;
    try {
      const error = await gw.CheckConnection!({ connection_id: randomUUID() }, { authorization: `Bearer ${stack.agentKey}`, "x-request-id": id })
        .then(() => undefined, (e: unknown) => e as { code: number; metadata: { get(k: string): unknown[] } });
      assert.equal(error?.code, 5);
      assert.deepEqual(error.metadata.get("x-request-id"), [id]);
    } finally {
      gw.close();
    }
  });

  it("replaces an id that is too long or holds other characters, and never logs it", async () => {
    for (const bad of ["has space", "semi;colon", "a".repeat(129), "quote\"", "ünïcode", "new%0Aline"]) {
      const res = await fetch(`${stack.gateway.url}/v1/providers`, { headers: { "x-request-id": bad } });
      assert.equal(res.status, 200);
      const given = res.headers.get("x-request-id")!;
      assert.match(given, uuid, `${bad} replaced`);
      assert.ok(!stack.logs.some((l) => l.includes(bad)), `${bad} logged`);
    }
    const longest = "b".repeat(128);
    assert.equal((await fetch(`${stack.gateway.url}/v1/providers`, { headers: { "x-request-id": longest } })).headers.get("x-request-id"), longest);
  });

  it("makes an id when none is given, answers it even on a path that is no route, and logs it", async () => {
    const res = await fetch(`${stack.broker.url}/no/such/route`);
    assert.equal(res.status, 404);
    const id = res.headers.get("x-request-id")!;
    assert.match(id, uuid);
    assert.ok(loggedBy(id).lines >= 1);
    const other = await fetch(`${stack.broker.url}/no/such/route`);
    assert.notEqual(other.headers.get("x-request-id"), id);
  });
});
