/**
 * The plain Connect and gRPC unary paths (connect-unary.ts, grpc-unary.ts)
 * against connect-es's own handlers behind the same app: each request is
 * sent once as it comes (the lean path takes it) and once in a form only
 * connect-es takes (Connect as a GET, gRPC over HTTP/1.1), and the answers
 * must be the same: status, content type, body, trailers, error code, reason
 * and details. Which path ran is visible to the handler: connect-es aborts a
 * call's signal when the call ends, the lean paths do not.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createContextValues, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { Registry } from "prom-client";
import { GetTokenRequestSchema, GetTokenResponseSchema } from "../../gen/nexus/common/v1/token_pb.ts";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { createErrorInterceptor, withReason } from "../../src/shared/connect-errors.ts";
import { silentLogger } from "../../src/shared/logger.ts";
import { createHttpApp } from "../../src/shared/server/http-app.ts";

const contexts: HandlerContext[] = [];
const seen: string[] = [];
const recorder: Interceptor = (next) => async (req) => {
  seen.push(`${req.method.name} ${req.header.get("x-probe") ?? ""}`);
  return next(req);
};

const app = createHttpApp({
  routes: (router) => {
    router.service(GatewayService, {
      getToken(req: { connectionId: string }, ctx: HandlerContext) {
        contexts.push(ctx);
        ctx.responseHeader.set("cache-control", "no-store");
        ctx.responseTrailer.set("x-trailer", "t1");
        if (req.connectionId === "refused") throw withReason("agent_not_authorized", "this agent may not use connection refused", { field: "connection_id" });
        if (req.connectionId === "broken") throw new Error("a bug");
        return { credential: { strategy: { type: "oauth2" }, credentials: { access_token: `tok-${req.connectionId}` }, expiresAt: 1700000000 } };
      },
    } as never);
  },
  interceptors: [createErrorInterceptor(silentLogger), recorder],
  health: { check: async () => "SERVING" },
  registry: new Registry(),
  readMaxBytes: 256,
  logger: silentLogger,
});

interface Answer {
  status: number;
  contentType: string | null;
  body: Uint8Array;
  header: Headers;
  trailer: Headers | undefined;
  aborted: boolean;
}

async function send(httpVersion: string, header: Record<string, string>, body: Uint8Array, get?: URLSearchParams): Promise<Answer> {
  const before = contexts.length;
  const response: UniversalServerResponse = await app.handle({
    // Framed as an HTTP/1.1 client frames a known body: with its length.
    httpVersion, method: get === undefined ? "POST" : "GET",
    header: new Headers(get === undefined && httpVersion === "1.1" ? { ...header, "content-length": String(body.byteLength) } : header),
    url: `http://gateway.test/nexus.gateway.v1.GatewayService/GetToken${get === undefined ? "" : `?${get}`}`,
    body: (async function* () {
      yield body;
    })(), signal: new AbortController().signal, contextValues: createContextValues(),
  });
  const chunks: Uint8Array[] = [];
  for await (const chunk of response.body ?? []) chunks.push(chunk);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return {
    status: response.status, contentType: response.header?.get("content-type") ?? null, body: all, header: response.header ?? new Headers(),
    trailer: response.trailer, aborted: contexts.length > before ? contexts[contexts.length - 1]!.signal.aborted : false,
  };
}

const text = (a: Answer) => new TextDecoder().decode(a.body);
/** The same Connect call as a GET, which only connect-es serves. */
const asGet = (header: Record<string, string>, bytes: Uint8Array) => {
  const { "content-type": type, ...rest } = header;
  const binary = type === "application/proto";
  const query = new URLSearchParams({ connect: "v1", encoding: binary ? "proto" : "json", message: binary ? Buffer.from(bytes).toString("base64url") : new TextDecoder().decode(bytes) });
  if (binary) query.set("base64", "1");
  return send("1.1", rest, new Uint8Array(0), query);
};
const envelope = (message: Uint8Array) => {
  const frame = new Uint8Array(5 + message.byteLength);
  new DataView(frame.buffer).setUint32(1, message.byteLength);
  frame.set(message, 5);
  return frame;
};
const grpcRequest = (id: string) => envelope(toBinary(GetTokenRequestSchema, create(GetTokenRequestSchema, { connectionId: id })));
/** The gRPC status trailers connect-es and the lean path send, without the ones only one of them adds. */
const grpcTrailers = (a: Answer) => Object.fromEntries([...(a.trailer ?? new Headers())].filter(([k]) => k.startsWith("grpc-") || k === "x-trailer"));

describe("the lean Connect unary path", () => {
  const json = { "content-type": "application/json" };
  const body = (s: string) => new TextEncoder().encode(s);

  it("answers a plain JSON call itself, as connect-es would, through the interceptors", async () => {
    seen.length = 0;
    const lean = await send("1.1", { ...json, "x-probe": "lean" }, body('{"connectionId":"c1"}'));
    const full = await asGet({ ...json, "x-probe": "full" }, body('{"connectionId":"c1"}'));
    assert.deepEqual([lean.aborted, full.aborted], [false, true], "the GET went to connect-es");
    assert.deepEqual(seen, ["GetToken lean", "GetToken full"]);
    assert.deepEqual([lean.status, lean.contentType, text(lean)], [full.status, full.contentType, text(full)]);
    assert.equal(lean.header.get("cache-control"), "no-store");
    assert.equal(lean.header.get("trailer-x-trailer"), full.header.get("trailer-x-trailer"));
    assert.equal(JSON.parse(text(lean)).credential.credentials.access_token, "tok-c1");
  });

  it("answers binary calls, and refuses bad input with the same status, code and reason", async () => {
    const proto = { "content-type": "application/proto" };
    const lean = await send("1.1", proto, toBinary(GetTokenRequestSchema, create(GetTokenRequestSchema, { connectionId: "c2" })));
    assert.equal(lean.aborted, false);
    assert.equal(fromBinary(GetTokenResponseSchema, lean.body).credential?.credentials.access_token, "tok-c2");
    for (const [header, bytes] of [
      [json, body('{"connectionId": 7')],
      [json, body('{"connection_id":"c","nope":1}')],
      [json, body("")],
      [json, body(`{"connectionId":"${"x".repeat(300)}"}`)],
      [proto, new Uint8Array([0x0a, 0x05, 0x61])],
      [json, body('{"connectionId":"refused"}')],
      [json, body('{"connectionId":"broken"}')],
    ] as const) {
      const a = await send("1.1", header, bytes);
      const b = await asGet(header, bytes);
      assert.notEqual(a.status, 200);
      assert.deepEqual([a.status, a.contentType, JSON.parse(text(a))], [b.status, b.contentType, JSON.parse(text(b))], text(b));
    }
  });

  it("keeps the caller's deadline, and refuses a bad one as connect-es does", async () => {
    const lean = await send("1.1", { ...json, "connect-timeout-ms": "4000" }, body('{"connectionId":"c1"}'));
    assert.equal(lean.aborted, false);
    const left = contexts.at(-1)!.timeoutMs()!;
    assert.ok(left > 3000 && left <= 4000, String(left));
    for (const timeout of ["soon", "90000"]) {
      const a = await send("1.1", { ...json, "connect-timeout-ms": timeout }, body('{"connectionId":"c1"}'));
      const b = await asGet({ ...json, "connect-timeout-ms": timeout }, body('{"connectionId":"c1"}'));
      assert.equal(a.status, 400);
      assert.deepEqual([a.status, JSON.parse(text(a))], [b.status, JSON.parse(text(b))]);
    }
  });

  it("leaves compressed bodies, GET, other protocol versions and content types to connect-es", async () => {
    for (const header of [{ ...json, "content-encoding": "gzip" }, { ...json, "connect-protocol-version": "2" }, { "content-type": "text/plain" }]) {
      const before = contexts.length;
      await send("1.1", header, body('{"connectionId":"c3"}'));
      assert.ok(contexts.length === before || contexts.at(-1)!.signal.aborted, JSON.stringify(header));
    }
  });
});

describe("the lean gRPC unary path", () => {
  const grpc = { "content-type": "application/grpc", te: "trailers" };

  it("answers a plain call itself over HTTP/2: the same message and trailers as connect-es", async () => {
    const lean = await send("2", grpc, grpcRequest("c4"));
    const full = await send("1.1", grpc, grpcRequest("c4"));
    assert.deepEqual([lean.aborted, full.aborted], [false, true]);
    assert.deepEqual([lean.status, lean.contentType, [...lean.body]], [full.status, full.contentType, [...full.body]]);
    assert.deepEqual(grpcTrailers(lean), grpcTrailers(full));
    assert.equal(grpcTrailers(lean)["grpc-status"], "0");
    assert.equal(fromBinary(GetTokenResponseSchema, lean.body.subarray(5)).credential?.credentials.access_token, "tok-c4");
  });

  it("fails the way connect-es fails: status, message and details in the trailers", async () => {
    const cases = [
      grpcRequest("refused"), grpcRequest("broken"), grpcRequest("x".repeat(300)), new Uint8Array([0, 0, 0, 0, 9, 1]),
      new Uint8Array([1, 0, 0, 0, 1, 0]), new Uint8Array([...grpcRequest("a"), ...grpcRequest("b")]), new Uint8Array(0),
    ];
    for (const bytes of cases) {
      const a = await send("2", grpc, bytes);
      const b = await send("1.1", grpc, bytes);
      assert.notEqual(grpcTrailers(a)["grpc-status"], "0");
      assert.deepEqual(grpcTrailers(a), grpcTrailers(b), JSON.stringify(grpcTrailers(b)));
      assert.deepEqual([a.status, a.contentType, a.body.byteLength], [b.status, b.contentType, b.body.byteLength]);
    }
  });

  it("keeps the caller's deadline, and refuses a bad one as connect-es does", async () => {
    const lean = await send("2", { ...grpc, "grpc-timeout": "4S" }, grpcRequest("c4"));
    assert.equal(lean.aborted, false);
    const left = contexts.at(-1)!.timeoutMs()!;
    assert.ok(left > 3000 && left <= 4000, String(left));
    for (const timeout of ["4s", "2M"]) {
      const a = await send("2", { ...grpc, "grpc-timeout": timeout }, grpcRequest("c4"));
      const b = await send("1.1", { ...grpc, "grpc-timeout": timeout }, grpcRequest("c4"));
      assert.equal(grpcTrailers(a)["grpc-status"], "3");
      assert.deepEqual(grpcTrailers(a), grpcTrailers(b));
    }
  });

  it("leaves HTTP/1.1, JSON and compressed calls to connect-es", async () => {
    for (const [version, header] of [["1.1", grpc], ["2", { ...grpc, "content-type": "application/grpc+json" }], ["2", { ...grpc, "grpc-encoding": "gzip" }]] as const) {
      const before = contexts.length;
      await send(version, header, grpcRequest("c5"));
      assert.ok(contexts.length === before || contexts.at(-1)!.signal.aborted, `${version} ${JSON.stringify(header)}`);
    }
  });
});

