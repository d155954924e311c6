import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, createFileRegistry, type DescMessage, type DescService, type JsonObject, type Message, type MessageInitShape, setExtension, toJsonString } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  file_google_protobuf_field_mask,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
  MethodOptionsSchema,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createConnectRouter, createContextKey, createContextValues, type Interceptor } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { http } from "../../gen/google/api/annotations_pb.ts";
import { CustomHttpPatternSchema, HttpRuleSchema } from "../../gen/google/api/http_pb.ts";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { AuditService, ListAuditEventsRequestSchema } from "../../gen/nexus/broker/v1/audit_service_pb.ts";
import { AuthorizationService, SubmitCaptureRequestSchema } from "../../gen/nexus/broker/v1/authorization_service_pb.ts";
import { ProviderProfileSchema, ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { GatewayService, RequestConnectionRequestSchema } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { createPathTemplate, decodePathValue } from "../../src/shared/server/path-template.ts";
import { createRestTranscoder, type RestMatch, type RestTranscoder } from "../../src/shared/server/rest-transcoder.ts";
import { createUnaryDispatch, recordImplementations } from "../../src/shared/server/unary-dispatch.ts";

// ---------------------------------------------------------------------------
// A test-only service, built at runtime, for template and type features the
// Nexus contract does not use (dotted variables, **, verbs, custom methods,
// additional bindings, `body: "field"`, every query value type).

type FieldInit = MessageInitShape<typeof FieldDescriptorProtoSchema>;

function field(name: string, number: number, type: Type, extra: FieldInit = {}): FieldInit {
  const jsonName = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return { name, number, type, label: Label.OPTIONAL, jsonName, ...extra };
}

function options(rule: MessageInitShape<typeof HttpRuleSchema>) {
  const o = create(MethodOptionsSchema);
  setExtension(o, http, create(HttpRuleSchema, rule));
  return o;
}

const echoFile = create(FileDescriptorProtoSchema, {
  name: "test/v1/echo.proto",
  package: "test.v1",
  syntax: "proto3",
  dependency: ["google/protobuf/timestamp.proto", "google/protobuf/field_mask.proto", "google/protobuf/wrappers.proto"],
  enumType: [{ name: "Color", value: [{ name: "COLOR_UNSPECIFIED", number: 0 }, { name: "RED", number: 1 }, { name: "GREEN", number: 2 }] }],
  messageType: [
    { name: "Inner", field: [field("name", 1, Type.STRING), field("count", 2, Type.INT32)] },
    {
      name: "EchoRequest",
      field: [
        field("name", 1, Type.STRING),
        field("inner", 2, Type.MESSAGE, { typeName: ".test.v1.Inner" }),
        field("flag", 3, Type.BOOL),
        field("i32", 4, Type.INT32),
        field("i64", 5, Type.INT64),
        field("u32", 6, Type.UINT32),
        field("d", 7, Type.DOUBLE),
        field("color", 8, Type.ENUM, { typeName: ".test.v1.Color" }),
        field("tags", 9, Type.STRING, { label: Label.REPEATED }),
        field("labels", 10, Type.MESSAGE, { label: Label.REPEATED, typeName: ".test.v1.EchoRequest.LabelsEntry" }),
        field("at", 11, Type.MESSAGE, { typeName: ".google.protobuf.Timestamp" }),
        field("mask", 12, Type.MESSAGE, { typeName: ".google.protobuf.FieldMask" }),
        field("path", 13, Type.STRING),
        field("wrapped", 14, Type.MESSAGE, { typeName: ".google.protobuf.Int32Value" }),
        field("colors", 15, Type.ENUM, { label: Label.REPEATED, typeName: ".test.v1.Color" }),
      ],
      nestedType: [{ name: "LabelsEntry", field: [field("key", 1, Type.STRING), field("value", 2, Type.STRING)], options: { mapEntry: true } }],
    },
    { name: "EchoResponse", field: [field("method", 1, Type.STRING), field("json", 2, Type.STRING)] },
  ],
  service: [
    {
      name: "EchoService",
      method: [
        ["Get", { pattern: { case: "get", value: "/t/{name}" }, additionalBindings: [create(HttpRuleSchema, { pattern: { case: "get", value: "/t/{inner.name}/inner" } })] }],
        ["Special", { pattern: { case: "get", value: "/t/special" } }],
        ["Files", { pattern: { case: "get", value: "/files/{path=docs/**}" } }],
        ["Shelf", { pattern: { case: "get", value: "/v1/{name=shelves/*}/books" } }],
        ["Cancel", { pattern: { case: "post", value: "/t/{name}:cancel" } }],
        ["SetInner", { pattern: { case: "post", value: "/t/{name}/inner" }, body: "inner" }],
        ["Report", { pattern: { case: "custom", value: create(CustomHttpPatternSchema, { kind: "REPORT", path: "/t/report" }) } }],
        ["Raw", { pattern: { case: "get", value: "/raw/{name}" }, responseBody: "method" }],
        ["Plain", {}],
      ].map(([name, rule]) => ({
        name: name as string,
        inputType: ".test.v1.EchoRequest",
        outputType: ".test.v1.EchoResponse",
        ...(name === "Plain" ? {} : { options: options(rule as MessageInitShape<typeof HttpRuleSchema>) }),
      })),
    },
  ],
});

const wkt: Record<string, (typeof file_google_protobuf_timestamp) | undefined> = {
  "google/protobuf/timestamp.proto": file_google_protobuf_timestamp,
  "google/protobuf/field_mask.proto": file_google_protobuf_field_mask,
  "google/protobuf/wrappers.proto": file_google_protobuf_wrappers,
};
const echoRegistry = createFileRegistry(echoFile, (name) => wkt[name]);
const EchoService = echoRegistry.getService("test.v1.EchoService") as DescService;
const EchoRequest = echoRegistry.getMessage("test.v1.EchoRequest") as DescMessage;

// ---------------------------------------------------------------------------
// Fakes of the Nexus services that echo what they received.

const enc = new TextEncoder();
const callerKey = createContextKey<string>("nobody");
const intercepted: string[] = [];
const recorder: Interceptor = (next) => async (req) => {
  intercepted.push(req.method.name);
  return next(req);
};

function build(readMaxBytes = 4096): RestTranscoder {
  const { router, implementations } = recordImplementations(createConnectRouter({ interceptors: [recorder], jsonOptions: { ignoreUnknownFields: false } }));
  router.service(GatewayService, {
    requestConnection: (req) => ({ connectionId: "c-1", authUrl: toJsonString(RequestConnectionRequestSchema, req), scopes: req.scopes }),
    checkConnection: (req, ctx) => ({
      status: JSON.stringify({
        id: req.connectionId,
        contentType: ctx.requestHeader.get("content-type"),
        authorization: ctx.requestHeader.get("authorization"),
        grpcTimeout: ctx.requestHeader.get("grpc-timeout"),
        protocol: ctx.protocolName,
        method: ctx.requestMethod,
        url: ctx.url,
        caller: ctx.values.get(callerKey),
        aborted: ctx.signal.aborted,
      }),
    }),
    getToken: (req, ctx) => {
      if (req.connectionId === "missing") throw new ConnectError("connection_not_found: no such connection", Code.NotFound);
      ctx.responseHeader.set("cache-control", "no-store");
      return {
        credential: {
          strategy: { type: "oauth2", config: {} },
          credentials: { access_token: `tok-${req.connectionId}`, token_type: "Bearer" },
          expiresAt: 1700000000,
        },
      };
    },
    refreshToken: (req) => ({ credential: { strategy: { type: "oauth2" }, credentials: { access_token: `new-${req.connectionId}` } } }),
    captureCredential: (req) => ({ connectionId: req.state, status: JSON.stringify(req.credentials) }),
  });
  router.service(ProviderService, {
    createProvider: (req, ctx) => {
      ctx.responseHeader.set("x-http-code", "201");
      ctx.responseHeader.set("location", "/providers/p-1");
      return { id: "p-1", name: toJsonString(ProviderProfileSchema, req.profile ?? create(ProviderProfileSchema)) };
    },
    getProvider: (req) => ({ provider: { id: req.id, name: "google" } }),
    patchProvider: (req) => ({ provider: { id: req.id, description: req.profile?.description ?? "", aliases: req.updateMask?.paths ?? [] } }),
    updateProvider: (req) => ({ provider: { id: req.id, description: req.profile?.description ?? "" } }),
    deleteProvider: () => ({}),
  });
  router.service(AuditService, {
    listAuditEvents: (req) => ({ nextCursor: toJsonString(ListAuditEventsRequestSchema, req) }),
  });
  router.service(AuthorizationService, {
    callback: (req, ctx) => {
      ctx.responseHeader.set("x-http-code", "303");
      ctx.responseHeader.set("location", `https://app.example/done?status=success&state=${req.state}`);
      return { page: { contentType: "text/html; charset=utf-8", data: enc.encode(`<p>code=${req.code}</p>`) } };
    },
    submitCapture: (req) => ({ page: { contentType: "application/json", data: enc.encode(toJsonString(SubmitCaptureRequestSchema, req)) } }),
  });
  for (const m of EchoService.methods) {
    router.rpc(m, ((req: Message) => ({ method: m.name, json: toJsonString(EchoRequest, req) })) as never);
  }
  return createRestTranscoder(implementations.values(), { readMaxBytes, dispatch: createUnaryDispatch({ interceptors: [recorder] }) });
}

const transcoder = build();

describe("bodiless HTTP/1.1 requests", () => {
  it("reads no body when neither Content-Length nor Transfer-Encoding is sent, but always reads HTTP/2 bodies", async () => {
    let pulled = false;
    async function* body() {
      pulled = true;
      yield enc.encode('{"x":1}');
    }
    const base = { method: "GET", url: "http://x/t/special", signal: new AbortController().signal, header: new Headers() };
    const m = transcoder.match("GET", "/t/special");
    assert.equal(m?.kind, "route");
    if (m?.kind !== "route") return;
    await transcoder.handle({ ...base, httpVersion: "1.1", body: body() }, m);
    assert.equal(pulled, false, "an HTTP/1.1 request without framing headers has no body");
    const h2 = await transcoder.handle({ ...base, httpVersion: "2", body: body() }, m);
    assert.equal(pulled, true, "HTTP/2 bodies need no framing headers");
    assert.equal(h2.status, 400, "a body on a route without one is refused");
  });
});

// ---------------------------------------------------------------------------
// Helpers.

interface Init {
  headers?: Record<string, string>;
  body?: string | AsyncIterable<Uint8Array>;
  contextValues?: ReturnType<typeof createContextValues>;
  signal?: AbortSignal;
}

function request(method: string, url: string, init: Init = {}): UniversalServerRequest {
  const body = init.body;
  async function* chunks() {
    if (typeof body === "string" && body !== "") yield enc.encode(body);
    else if (typeof body === "object") yield* body;
  }
  // Framed as an HTTP/1.1 client frames it: a length for a known body, chunked for a stream.
  const header = new Headers(init.headers);
  if (typeof body === "string" && body !== "" && !header.has("content-length")) header.set("content-length", String(enc.encode(body).byteLength));
  if (typeof body === "object" && !header.has("content-length")) header.set("transfer-encoding", "chunked");
  return {
    httpVersion: "1.1",
    method,
    url,
    header,
    body: chunks(),
    signal: init.signal ?? new AbortController().signal,
    ...(init.contextValues === undefined ? {} : { contextValues: init.contextValues }),
  };
}

interface Reply {
  status: number;
  header: Headers;
  text: string;
  json(): JsonObject;
}

async function read(response: UniversalServerResponse): Promise<Reply> {
  const parts: Uint8Array[] = [];
  for await (const chunk of response.body ?? []) parts.push(chunk);
  const text = new TextDecoder().decode(concat(parts));
  return { status: response.status, header: response.header ?? new Headers(), text, json: () => JSON.parse(text) as JsonObject };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.byteLength;
  }
  return all;
}

async function call(method: string, url: string, init: Init = {}, t: RestTranscoder = transcoder): Promise<Reply> {
  const m = t.match(method, new URL(url).pathname);
  assert.equal(m?.kind, "route", `no route for ${method} ${url}`);
  return read(await t.handle(request(method, url, init), m as Extract<RestMatch, { kind: "route" }>));
}

/** The echo service's view of the request message, as JSON. */
async function echo(method: string, url: string, init: Init = {}): Promise<{ method: string; request: JsonObject }> {
  const reply = await call(method, url, init);
  assert.equal(reply.status, 200, reply.text);
  const body = reply.json();
  return { method: body["method"] as string, request: JSON.parse(body["json"] as string) as JsonObject };
}

function errorOf(reply: Reply): { code: Code; message: string; reason: string | undefined; field: string | undefined } {
  assert.equal(reply.header.get("content-type"), "application/json");
  const error = errorFromJsonBytes(enc.encode(reply.text), undefined, new ConnectError("not an error body"));
  const info = error.findDetails(ErrorInfoSchema)[0];
  return { code: error.code, message: error.rawMessage, reason: info?.reason, field: error.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field };
}

const json = { "content-type": "application/json" };
const base = "https://nexus.example";

// ---------------------------------------------------------------------------

describe("path templates", () => {
  it("matches literals, {field}, {field=pattern} with * and **, and verbs", () => {
    const seg = (p: string) => p.split("/");
    assert.deepEqual(createPathTemplate("/v1/token/{connection_id}").match(seg("/v1/token/abc")), ["abc"]);
    assert.equal(createPathTemplate("/v1/token/{connection_id}").match(seg("/v1/token/abc/x")), undefined);
    assert.equal(createPathTemplate("/v1/token/{connection_id}").match(seg("/v1/token/")), undefined);
    assert.equal(createPathTemplate("/v1/token/{connection_id}").match(seg("/v2/token/abc")), undefined);
    assert.deepEqual(createPathTemplate("/v1/{name=shelves/*}/books").match(seg("/v1/shelves/s1/books")), ["shelves/s1"]);
    assert.equal(createPathTemplate("/v1/{name=shelves/*}/books").match(seg("/v1/racks/s1/books")), undefined);
    assert.deepEqual(createPathTemplate("/files/{path=**}").match(seg("/files/a/b/c.txt")), ["a/b/c.txt"]);
    assert.deepEqual(createPathTemplate("/t/{name}:cancel").match(seg("/t/x:cancel")), ["x"]);
    assert.equal(createPathTemplate("/t/{name}:cancel").match(seg("/t/x")), undefined);
    assert.deepEqual(createPathTemplate("/t/{a.b}/{c}").variables.map((v) => v.fieldPath), [["a", "b"], ["c"]]);
    assert.equal(createPathTemplate("/a/b/{c}").literalCount, 2);
    assert.throws(() => createPathTemplate("/a/**/b"), /\*\* must be the last/);
    assert.throws(() => createPathTemplate("no-slash"), /must start with/);
    assert.throws(() => createPathTemplate("/a/{b"), /not closed|unbalanced/);
  });

  it("percent-decodes values, keeping %2F inside multi-segment captures", () => {
    assert.equal(decodePathValue("a%20b%2Fc", false), "a b/c");
    assert.equal(decodePathValue("a%20b%2Fc/d", true), "a b%2Fc/d");
    assert.equal(decodePathValue("%E0%A4%A", false), undefined);
  });

  it("serves dotted variables, ** captures, verbs, custom methods and additional bindings", async () => {
    assert.deepEqual(await echo("GET", `${base}/t/hello%20world`), { method: "Get", request: { name: "hello world" } });
    assert.deepEqual(await echo("GET", `${base}/t/in%2Fner/inner`), { method: "Get", request: { inner: { name: "in/ner" } } });
    assert.deepEqual(await echo("GET", `${base}/files/docs/a/b.txt`), { method: "Files", request: { path: "docs/a/b.txt" } });
    assert.deepEqual(await echo("GET", `${base}/v1/shelves/s1/books`), { method: "Shelf", request: { name: "shelves/s1" } });
    assert.deepEqual(await echo("POST", `${base}/t/job-1:cancel`), { method: "Cancel", request: { name: "job-1" } });
    assert.deepEqual(await echo("REPORT", `${base}/t/report`), { method: "Report", request: {} });
    assert.equal(transcoder.match("GET", "/files/other/a.txt"), undefined);
  });

  it("prefers the template with more literal segments", async () => {
    assert.equal((await echo("GET", `${base}/t/special`)).method, "Special");
    assert.equal((await echo("GET", `${base}/t/other`)).method, "Get");
  });

  it("answers method_not_allowed with the methods the path takes", () => {
    assert.deepEqual(transcoder.match("POST", "/providers/p-1"), { kind: "method_not_allowed", allowed: ["GET", "PUT", "PATCH", "DELETE"] });
    assert.deepEqual(transcoder.match("DELETE", "/t/x/inner"), { kind: "method_not_allowed", allowed: ["GET", "POST"] });
    assert.equal(transcoder.match("GET", "/nowhere"), undefined);
  });

  it("rejects malformed percent-encoding in a path variable", async () => {
    const reply = await call("GET", `${base}/t/%E0%A4%A`);
    assert.equal(reply.status, 400);
    assert.equal(errorOf(reply).field, "name");
  });

  it("lists routes only for annotated unary methods, including additional bindings", () => {
    const echoRoutes = transcoder.routes.filter((r) => r.service === "test.v1.EchoService");
    assert.equal(echoRoutes.some((r) => r.method === "Plain"), false);
    assert.deepEqual(echoRoutes.filter((r) => r.method === "Get").map((r) => r.pathTemplate).sort(), ["/t/{inner.name}/inner", "/t/{name}"]);
    assert.deepEqual(
      transcoder.routes.find((r) => r.method === "GetToken"),
      { httpMethod: "GET", pathTemplate: "/v1/token/{connection_id}", service: "nexus.gateway.v1.GatewayService", method: "GetToken", body: "", responseBody: "credential" },
    );
  });
});

describe("request building", () => {
  it("takes snake_case and camelCase keys for body \"*\"", async () => {
    for (const body of [
      { user_id: "ws-1", provider_name: "google", scopes: ["email"], return_url: "https://app.example/back" },
      { userId: "ws-1", providerName: "google", scopes: ["email"], returnUrl: "https://app.example/back" },
    ]) {
      const reply = await call("POST", `${base}/v1/request-connection`, { headers: json, body: JSON.stringify(body) });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.header.get("content-type"), "application/json");
      const out = reply.json();
      assert.equal(out["connection_id"], "c-1", "proto field names in the output");
      assert.deepEqual(JSON.parse(out["auth_url"] as string), { userId: "ws-1", providerName: "google", scopes: ["email"], returnUrl: "https://app.example/back" });
    }
  });

  it("rejects an unknown body key, naming it and its path", async () => {
    const reply = await call("POST", `${base}/providers`, {
      headers: json,
      body: JSON.stringify({ profile: { name: "g", auth_type: "oauth2", params: { foo: 1 } } }),
    });
    assert.equal(reply.status, 400);
    const e = errorOf(reply);
    assert.equal(e.code, Code.InvalidArgument);
    assert.equal(e.reason, "invalid_argument");
    assert.match(e.message, /unknown field "foo" in nexus\.broker\.v1\.ProviderParams/);
    assert.equal(e.field, "profile.params.foo");
    const top = errorOf(await call("POST", `${base}/v1/request-connection`, { headers: json, body: '{"user_id":"u","extra":true}' }));
    assert.match(top.message, /unknown field "extra" in nexus\.gateway\.v1\.RequestConnectionRequest/);
  });

  it("names the field of a wrong-typed value", async () => {
    const reply = await call("POST", `${base}/providers`, { headers: json, body: JSON.stringify({ profile: { name: "g", enable_discovery: "yes" } }) });
    assert.equal(reply.status, 400);
    const e = errorOf(reply);
    assert.equal(e.field, "profile.enable_discovery");
    assert.match(e.message, /invalid value for field "profile\.enable_discovery"/);
  });

  it("rejects invalid JSON and non-object bodies", async () => {
    const bad = errorOf(await call("POST", `${base}/v1/request-connection`, { headers: json, body: '{"user_id":' }));
    assert.equal(bad.code, Code.InvalidArgument);
    assert.match(bad.message, /^invalid_argument: request body is not valid JSON: /);
    const arr = await call("POST", `${base}/v1/request-connection`, { headers: json, body: "[1,2]" });
    assert.equal(arr.status, 400);
    assert.match(errorOf(arr).message, /must be a JSON object/);
    const field = await call("POST", `${base}/t/x/inner`, { headers: json, body: '"str"' });
    assert.equal(field.status, 400);
    assert.match(errorOf(field).message, /must be a JSON object \(it is the field "inner"\)/);
  });

  it("sends a body to one field for body: \"field\", with path and query filling the rest", async () => {
    const r = await echo("POST", `${base}/t/n1/inner?flag=true&inner.count=9&name=ignored`, { headers: json, body: '{"name":"in","count":3}' });
    assert.deepEqual(r, { method: "SetInner", request: { name: "n1", inner: { name: "in", count: 3 }, flag: true } });
  });

  it("lets path variables win, but refuses a body that disagrees", async () => {
    const same = await call("PUT", `${base}/providers/p-1`, { headers: json, body: '{"id":"p-1","profile":{"description":"d"}}' });
    assert.equal(same.status, 200, same.text);
    assert.equal(same.json()["id"], "p-1");
    const absent = await call("PUT", `${base}/providers/p-2`, { headers: json, body: '{"profile":{"description":"d"}}' });
    assert.equal(absent.json()["id"], "p-2");
    const differs = await call("PUT", `${base}/providers/p-1`, { headers: json, body: '{"id":"p-9","profile":{}}' });
    assert.equal(differs.status, 400);
    const e = errorOf(differs);
    assert.equal(e.field, "id");
    assert.match(e.message, /field "id" is "p-1" in the path but "p-9" in the request body/);
  });

  it("ignores an empty, blank or {} body on a route without body, and refuses any other", async () => {
    for (const body of ["", "  \n", "{}", " { } "]) {
      const reply = await call("POST", `${base}/v1/refresh/c-7`, { headers: json, body });
      assert.equal(reply.status, 200, `${JSON.stringify(body)}: ${reply.text}`);
      assert.equal((reply.json()["credentials"] as JsonObject)["access_token"], "new-c-7");
    }
    const reply = await call("POST", `${base}/v1/refresh/c-7`, { headers: json, body: '{"connection_id":"c-8"}' });
    assert.equal(reply.status, 400);
    assert.equal(errorOf(reply).message, "invalid_argument: this route takes no request body");
  });

  it("accepts JSON with a charset, and a body without content type as JSON", async () => {
    for (const headers of [{ "content-type": "application/json; charset=utf-8" }, {}] as Record<string, string>[]) {
      const reply = await call("POST", `${base}/v1/capture-credential`, { headers, body: '{"state":"s1","credentials":{"api_key":"k"}}' });
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual(reply.json(), { connection_id: "s1", status: '{"api_key":"k"}' });
    }
  });

  it("parses form bodies like query parameters, maps included", async () => {
    const reply = await call("POST", `${base}/auth/capture`, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "state=s-2&credentials.api_key=k%201&credentials[username]=bob&submit=Save",
    });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(JSON.parse(reply.text), { state: "s-2", credentials: { api_key: "k 1", username: "bob" } });
  });

  it("answers 415 for JSON sent as a form, and for other content types", async () => {
    const curl = await call("POST", `${base}/v1/request-connection`, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: '{"user_id":"u"}',
    });
    assert.equal(curl.status, 415);
    const e = errorOf(curl);
    assert.equal(e.code, Code.InvalidArgument);
    assert.equal(e.reason, "invalid_argument");
    assert.match(e.message, /Content-Type: application\/json/);
    const text = await call("POST", `${base}/v1/request-connection`, { headers: { "content-type": "text/plain" }, body: "hello" });
    assert.equal(text.status, 415);
    assert.match(errorOf(text).message, /content type "text\/plain" is not supported; send JSON with Content-Type: application\/json/);
  });

  it("converts query parameters by field type", async () => {
    const r = await echo(
      "GET",
      `${base}/t/q?flag=1&i32=-5&i64=9007199254740993&u32=7&d=1.5&color=GREEN&colors=RED&colors=2&tags=a&tags=b` +
        "&labels.env=prod&labels[team]=core&at=2024-01-02T03:04:05Z&mask=auth_type,params.authorize_params&wrapped=4" +
        "&inner.count=3&inner.name=deep&unknown=1&scope=email&authuser=0",
    );
    assert.deepEqual(r.request, {
      name: "q",
      flag: true,
      i32: -5,
      i64: "9007199254740993",
      u32: 7,
      d: 1.5,
      color: "GREEN",
      colors: ["RED", "GREEN"],
      tags: ["a", "b"],
      labels: { env: "prod", team: "core" },
      at: "2024-01-02T03:04:05Z",
      mask: "authType,params.authorizeParams",
      wrapped: 4,
      inner: { name: "deep", count: 3 },
    });
    assert.deepEqual((await echo("GET", `${base}/t/q?flag=false`)).request, { name: "q" }, "false is the default");
    assert.deepEqual((await echo("GET", `${base}/t/q?flag=true&color=1`)).request, { name: "q", flag: true, color: "RED" });
  });

  it("refuses query values that do not fit the field's type", async () => {
    const cases: [string, string, RegExp][] = [
      ["flag=yes", "flag", /query parameter "flag" must be true or false, got "yes"/],
      ["i32=abc", "i32", /query parameter "i32" must be an integer/],
      ["i32=2147483648", "i32", /must be an integer from -2147483648 to 2147483647/],
      ["u32=-1", "u32", /must be an integer from 0/],
      ["d=x", "d", /must be a number/],
      ["color=BLUE", "color", /must be one of COLOR_UNSPECIFIED, RED, GREEN, got "BLUE"/],
      ["at=yesterday", "at", /must be an RFC 3339 timestamp/],
      ["inner=x", "inner", /names a message/],
      ["labels=x", "labels", /names a map/],
    ];
    for (const [query, fieldName, message] of cases) {
      const reply = await call("GET", `${base}/t/q?${query}`);
      assert.equal(reply.status, 400, query);
      const e = errorOf(reply);
      assert.equal(e.field, fieldName, query);
      assert.match(e.message, message, query);
    }
  });

  it("refuses a singular query parameter given twice, by either name", async () => {
    for (const query of ["i32=1&i32=2", "inner.count=1&inner.count=2", "labels.a=1&labels[a]=2"]) {
      const reply = await call("GET", `${base}/t/q?${query}`);
      assert.equal(reply.status, 400, query);
      assert.match(errorOf(reply).message, /query parameter ".*" is given more than once/);
    }
    const audit = await call("GET", `${base}/audit?limit=5&limit=6`);
    assert.equal(audit.status, 400);
    assert.equal(errorOf(audit).message, 'invalid_argument: query parameter "limit" is given more than once');
    const named = await call("GET", `${base}/v1/resolve?workspace_id=a&workspaceId=b&provider_name=g`);
    assert.equal(named.status, 400);
    assert.match(errorOf(named).message, /query parameter "workspaceId" is given more than once/);
  });

  it("lists audit events with a since timestamp and a limit from the query", async () => {
    const reply = await call("GET", `${base}/audit?since=2024-05-01T00:00:00Z&limit=25&event_type=token.read&prompt=consent`);
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(JSON.parse(reply.json()["next_cursor"] as string), { eventType: "token.read", since: "2024-05-01T00:00:00Z", limit: 25 });
  });

  it("derives update_mask for PATCH from the keys of the one message in the body", async () => {
    const reply = await call("PATCH", `${base}/providers/p-3`, { headers: json, body: '{"profile":{"description":"x","authType":"api_key"}}' });
    assert.equal(reply.status, 200, reply.text);
    const patched = reply.json();
    assert.equal(patched["id"], "p-3");
    assert.equal(patched["description"], "x");
    assert.deepEqual(patched["aliases"], ["description", "auth_type"]);
    const given = await call("PATCH", `${base}/providers/p-3`, { headers: json, body: '{"profile":{"description":"x"},"update_mask":"category"}' });
    assert.deepEqual(given.json()["aliases"], ["category"], "a given mask is kept");
  });

  it("stops reading a body as soon as it passes readMaxBytes, answering 413 (not 429: waiting cannot help)", async () => {
    let pulled = 0;
    async function* big() {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield new Uint8Array(1024).fill(32);
      }
    }
    const reply = await call("POST", `${base}/v1/request-connection`, { headers: json, body: big() });
    assert.equal(reply.status, 413);
    const e = errorOf(reply);
    assert.equal(e.code, Code.ResourceExhausted);
    assert.equal(e.reason, "payload_too_large");
    assert.match(e.message, /4096 bytes/);
    assert.equal(pulled, 5);
    const declared = await call("POST", `${base}/v1/request-connection`, { headers: { ...json, "content-length": "5000" }, body: "{}" });
    assert.equal(errorOf(declared).reason, "payload_too_large");
    assert.equal(declared.status, 413);
  });
});

describe("invocation", () => {
  it("calls the handler in process with the bound message, filtered headers and context values, through interceptors", async () => {
    intercepted.length = 0;
    const contextValues = createContextValues().set(callerKey, "agent-7");
    const reply = await call("GET", `${base}/v1/check-connection/c-9?x=1`, {
      headers: { authorization: "Bearer k", "content-type": "text/plain", "grpc-timeout": "1S", "connect-timeout-ms": "5" },
      contextValues,
    });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(JSON.parse(reply.json()["status"] as string), {
      id: "c-9",
      contentType: "application/proto",
      authorization: "Bearer k",
      grpcTimeout: null,
      protocol: "connect",
      method: "POST",
      url: "https://nexus.example/nexus.gateway.v1.GatewayService/CheckConnection",
      caller: "agent-7",
      aborted: false,
    });
    assert.deepEqual(intercepted, ["CheckConnection"]);
  });

  it("passes the request's abort signal to the handler", async () => {
    const controller = new AbortController();
    controller.abort();
    const reply = await call("GET", `${base}/v1/check-connection/c-9`, { signal: controller.signal });
    assert.equal(JSON.parse(reply.json()["status"] as string).aborted, true);
  });

  it("accepts a body a server framework already parsed as JSON", async () => {
    const m = transcoder.match("POST", "/v1/capture-credential");
    assert.equal(m?.kind, "route");
    const req = { ...request("POST", `${base}/v1/capture-credential`, { headers: json }), body: { state: "s-5", credentials: { k: "v" } } };
    const reply = await read(await transcoder.handle(req, m as Extract<RestMatch, { kind: "route" }>));
    assert.deepEqual(reply.json(), { connection_id: "s-5", status: '{"k":"v"}' });
  });
});

describe("responses", () => {
  it("renders response_body alone for GET /v1/token/{connection_id}", async () => {
    const reply = await call("GET", `${base}/v1/token/c-1`);
    assert.equal(reply.status, 200);
    assert.equal(reply.header.get("content-type"), "application/json");
    assert.equal(reply.header.get("cache-control"), "no-store");
    assert.equal(reply.header.get("content-length"), null);
    // REST output is stable in shape: implicit fields (here the empty config) are written out.
    assert.deepEqual(reply.json(), {
      strategy: { type: "oauth2", config: {} },
      credentials: { access_token: "tok-c-1", token_type: "Bearer" },
      expires_at: 1700000000,
    });
    assert.equal(typeof reply.json()["expires_at"], "number");
  });

  it("writes an HttpBody raw and takes the status from x-http-code (303 redirect)", async () => {
    const reply = await call("GET", `${base}/auth/callback?code=abc&state=st-1&scope=email&authuser=0&prompt=consent`);
    assert.equal(reply.status, 303);
    assert.equal(reply.header.get("location"), "https://app.example/done?status=success&state=st-1");
    assert.equal(reply.header.get("content-type"), "text/html; charset=utf-8");
    assert.equal(reply.header.get("x-http-code"), null);
    assert.equal(reply.text, "<p>code=abc</p>");
  });

  it("uses x-http-code for JSON answers too, passing location through", async () => {
    const reply = await call("POST", `${base}/providers`, { headers: json, body: '{"profile":{"name":"g","auth_type":"oauth2"}}' });
    assert.equal(reply.status, 201);
    assert.equal(reply.header.get("location"), "/providers/p-1");
    assert.equal(reply.header.get("x-http-code"), null);
    assert.equal(reply.json()["id"], "p-1");
  });

  it("renders a scalar response_body as its JSON value", async () => {
    const reply = await call("GET", `${base}/raw/x`);
    assert.equal(reply.header.get("content-type"), "application/json");
    assert.equal(reply.text, '"Raw"');
  });

  it("renders an empty message as {}", async () => {
    const reply = await call("DELETE", `${base}/providers/p-1`);
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "{}");
  });

  it("passes a handler's error through as Connect error JSON with its HTTP status", async () => {
    const reply = await call("GET", `${base}/v1/token/missing`);
    assert.equal(reply.status, 404);
    assert.deepEqual(reply.json(), { code: "not_found", message: "connection_not_found: no such connection" });
  });
});
