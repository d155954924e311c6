/**
 * Malformed input on every protocol (issue 15, item 3; security.md C-48, C-49):
 * a malformed, too deep or too large message, a bogus Connect GET encoding, or
 * NUL and other control characters in any text field is a 4xx with a reason,
 * never a 500; the process keeps serving and nothing is half-written.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import type { JsonObject } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { errorFromJson } from "@connectrpc/connect/protocol-connect";
import { connectJsonClient, detailsOf, GatewayCallError, grpcClient, grpcWebClient, restClient, type GatewayTestClient } from "../support/gateway-clients.ts";
import { grpcJsClient, type GrpcJsError } from "../support/grpc-js.ts";
import { envelope, nestedGroups, rawGrpc, rawGrpcWeb } from "../support/raw-rpc.ts";
import { startStack, type TestStack } from "../support/stack.ts";

/** GET on a connection of its own, so no keep-alive socket the server is closing gets reused. */
function freshGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    }).on("error", reject);
  });
}

const gatewayCapture = "/nexus.gateway.v1.GatewayService/CaptureCredential";
const brokerCreate = "/nexus.broker.v1.ProviderService/CreateProvider";

describe("hostile input: every malformed request is a 4xx with a reason", () => {
  let stack: TestStack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  const tables = ["providers", "connections", "handshakes", "credentials"] as const;
  async function counts(): Promise<Record<string, number>> {
    const entries = await Promise.all(tables.map(async (t) => [t, Number((await stack.db.sql.unsafe(`select count(*)::int as n from ${t}`))[0]!.n)] as const));
    return Object.fromEntries(entries);
  }
  /** Both services still answer (on a fresh connection: a pooled one may be closing), and nothing was logged as a fault of ours. */
  async function stillServing(): Promise<void> {
    for (const url of [stack.broker.url, stack.gateway.url]) assert.equal(await freshGet(`${url}/healthz`), 200, url);
    const faults = stack.logs.filter((l) => /"level":"error"/.test(l));
    assert.deepEqual(faults, [], "no request was logged as an internal error");
  }
  async function connectError(res: Response): Promise<{ status: number; code: string; message: string; reason: string | undefined; field: string | undefined }> {
    const body = (await res.json()) as JsonObject;
    const error = errorFromJson(body, undefined, new ConnectError("not an error body"));
    const { reason, field } = detailsOf(error);
    return { status: res.status, code: String(body.code), message: String(body.message), reason, field: field?.path };
  }
  const adminJson = () => ({ "content-type": "application/json", "x-api-key": stack.adminKey });

  it("500,000 nested protobuf groups are invalid_argument on Connect binary (400), gRPC-Web and gRPC (INVALID_ARGUMENT)", async () => {
    const before = await counts();
    const groups = Buffer.from(nestedGroups(500_000));
    const connect = await connectError(await fetch(`${stack.gateway.url}${gatewayCapture}`, {
      method: "POST", headers: { "content-type": "application/proto", "connect-protocol-version": "1" }, body: groups,
    }));
    assert.deepEqual([connect.status, connect.code, connect.reason], [400, "invalid_argument", "invalid_argument"]);
    assert.match(connect.message, /not valid protobuf.*recursion/);
    const web = await rawGrpcWeb(stack.gateway.url, gatewayCapture, envelope(groups));
    assert.deepEqual([web.httpStatus, web.grpcStatus, web.reason], [200, 3, "invalid_argument"]);
    const grpc = await rawGrpc(stack.gateway.url, gatewayCapture, envelope(groups));
    assert.deepEqual([grpc.grpcStatus, grpc.reason], [3, "invalid_argument"]);
    // The Broker's own CaptureCredential, behind the admin key, answers the same.
    const broker = await rawGrpc(stack.broker.url, "/nexus.broker.v1.ConnectionService/CaptureCredential", envelope(groups), { "x-api-key": stack.adminKey });
    assert.deepEqual([broker.grpcStatus, broker.reason], [3, "invalid_argument"]);
    // Truncated bytes and a compressed frame nobody negotiated are the caller's fault too.
    const truncated = await rawGrpc(stack.gateway.url, gatewayCapture, envelope(new Uint8Array([0x0a, 0x40, 0x61])));
    assert.deepEqual([truncated.grpcStatus, truncated.reason], [3, "invalid_argument"]);
    const compressed = await rawGrpc(stack.gateway.url, gatewayCapture, envelope(new Uint8Array([0x0a, 0x01, 0x61]), 1));
    assert.deepEqual([compressed.grpcStatus, compressed.reason], [3, "invalid_argument"], compressed.message);
    assert.deepEqual(await counts(), before);
    await stillServing();
  });

  it("a Connect GET with a message that is not base64 is invalid_argument (400) naming the field", async () => {
    const res = await fetch(`${stack.gateway.url}/nexus.gateway.v1.GatewayService/ListProviders?connect=v1&encoding=proto&base64=1&message=%21%21%21`);
    const e = await connectError(res);
    assert.deepEqual([e.status, e.code, e.reason, e.field], [400, "invalid_argument", "invalid_argument", "message"]);
    const json = await connectError(await fetch(`${stack.gateway.url}/nexus.gateway.v1.GatewayService/ListProviders?connect=v1&encoding=json&message=%7B%22x`));
    assert.deepEqual([json.status, json.code, json.reason], [400, "invalid_argument", "invalid_argument"]);
    const good = await fetch(`${stack.gateway.url}/nexus.gateway.v1.GatewayService/ListProviders?connect=v1&encoding=json&message=%7B%7D`);
    assert.equal(good.status, 200);
    await stillServing();
  });

  it("an oversized body is payload_too_large: HTTP 413 on REST and Connect JSON/binary, RESOURCE_EXHAUSTED with the reason and no retry hint on gRPC and gRPC-Web", async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 0x20);
    const restRes = await fetch(`${stack.broker.url}/providers`, { method: "POST", headers: adminJson(), body: big });
    // The unread rest of the body must not be taken for the next request on this HTTP/1.1 connection.
    assert.equal(restRes.headers.get("connection"), "close");
    const rest = await connectError(restRes);
    assert.deepEqual([rest.status, rest.code, rest.reason], [413, "resource_exhausted", "payload_too_large"]);
    for (const contentType of ["application/json", "application/proto"]) {
      const res = await fetch(`${stack.broker.url}${brokerCreate}`, { method: "POST", headers: { ...adminJson(), "content-type": contentType }, body: big });
      const e = await connectError(res);
      assert.deepEqual([e.status, e.code, e.reason], [413, "resource_exhausted", "payload_too_large"], contentType);
      assert.equal(res.headers.get("retry-after"), null);
    }
    const grpc = await rawGrpc(stack.gateway.url, gatewayCapture, envelope(big));
    assert.deepEqual([grpc.grpcStatus, grpc.reason], [8, "payload_too_large"]);
    assert.equal(grpc.trailers["grpc-retry-pushback-ms"], undefined);
    const web = await rawGrpcWeb(stack.gateway.url, gatewayCapture, envelope(big));
    assert.deepEqual([web.grpcStatus, web.reason], [8, "payload_too_large"]);
    await stillServing();
  });

  it("JSON nested past the depth limit is invalid_argument on REST and Connect JSON", async () => {
    const deep = `{"profile":{"name":"deep","auth_type":"api_key","params":{"credential_schema":${'{"a":'.repeat(5000)}1${"}".repeat(5000)}}}}`;
    const rest = await connectError(await fetch(`${stack.broker.url}/providers`, { method: "POST", headers: adminJson(), body: deep }));
    assert.deepEqual([rest.status, rest.code, rest.reason], [400, "invalid_argument", "invalid_argument"]);
    assert.match(rest.message, /maximum recursion depth/);
    const connect = await connectError(await fetch(`${stack.broker.url}${brokerCreate}`, { method: "POST", headers: adminJson(), body: deep.replace("auth_type", "authType").replace("credential_schema", "credentialSchema") }));
    assert.deepEqual([connect.status, connect.code, connect.reason], [400, "invalid_argument", "invalid_argument"]);
    await stillServing();
  });

  it("NUL in authorize_params or a credential_schema description is refused with the field named, on REST, Connect and gRPC; nothing is stored", async () => {
    const before = await counts();
    const oauth = { name: "nul-oauth", auth_type: "oauth2", client_id: "c", client_secret: "s", auth_url: "http://127.0.0.1:9/authorize", token_url: "http://127.0.0.1:9/token" };
    const probes: [Record<string, unknown>, string][] = [
      [{ ...oauth, params: { authorize_params: { prompt: "con\u0000sent" } } }, "profile.params.authorize_params.prompt"],
      [{ name: "nul-static", auth_type: "api_key", params: { credential_schema: { type: "object", properties: { api_key: { type: "string", description: "paste\u0000here" } } } } },
        "profile.params.credential_schema.properties.api_key.description"],
      [{ ...oauth, description: "tab\there" }, "profile.description"],
      [{ ...oauth, scopes: ["read", "wr\u001bite"] }, "profile.scopes[1]"],
    ];
    for (const [profile, field] of probes) {
      const rest = await connectError(await fetch(`${stack.broker.url}/providers`, { method: "POST", headers: adminJson(), body: JSON.stringify({ profile }) }));
      assert.deepEqual([rest.status, rest.code, rest.reason, rest.field], [400, "invalid_argument", "invalid_argument", field], JSON.stringify(profile));
      assert.match(rest.message, /must not contain control characters/);
    }
    const connect = await connectError(await fetch(`${stack.broker.url}${brokerCreate}`, {
      method: "POST", headers: adminJson(),
      body: JSON.stringify({ profile: { name: "nul-oauth", authType: "oauth2", params: { authorizeParams: { prompt: "\u0000" } } } }),
    }));
    assert.deepEqual([connect.status, connect.field], [400, "profile.params.authorize_params.prompt"]);
    const grpc = grpcJsClient(stack.broker.url, "nexus/broker/v1/provider_service.proto", "nexus.broker.v1.ProviderService");
    try {
      const error = await grpc.CreateProvider!({ profile: { ...oauth, params: { authorize_params: { prompt: "a\u0000b" } } } }, { "x-api-key": stack.adminKey })
        .then(() => assert.fail("accepted"), (e: unknown) => e as GrpcJsError);
      assert.equal(error.code, 3);
      // grpc-js leaves connect-es's percent-encoding of grpc-message in place.
      assert.match(decodeURIComponent(error.details), /profile\.params\.authorize_params\.prompt: must not contain control characters/);
    } finally {
      grpc.close();
    }
    assert.deepEqual(await counts(), before);
    await stillServing();
  });

  it("a control character in a Gateway request field is invalid_argument naming it, on REST, Connect JSON, gRPC-Web and gRPC", async () => {
    const clients: GatewayTestClient[] = [restClient(stack.gateway.url, stack.agentKey), connectJsonClient(stack.gateway.url, stack.agentKey), grpcWebClient(stack.gateway.url, stack.agentKey)];
    const grpc = grpcClient(stack.gateway.url, stack.agentKey);
    try {
      for (const client of [...clients, grpc]) {
        const error = await client.requestConnection({ user_id: "u1", provider_name: "git\u0001hub", return_url: "https://app.example.com/" })
          .then(() => assert.fail(`${client.protocol} accepted`), (e: unknown) => e as GatewayCallError);
        assert.ok(error instanceof GatewayCallError, String(error));
        assert.deepEqual([error.code, error.reason], ["invalid_argument", "invalid_argument"], client.protocol);
        assert.match(decodeURIComponent(error.message), /provider_name: must not contain control characters \(found U\+0001\)/, client.protocol);
      }
    } finally {
      grpc.close();
    }
    await stillServing();
  });
});
