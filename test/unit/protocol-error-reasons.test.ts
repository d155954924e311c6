/**
 * Errors connect-es raises itself while reading a request get a Nexus reason
 * (security.md C-49): a malformed message is invalid_argument, never internal;
 * an oversized one is payload_too_large, HTTP 413 over Connect.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError, createConnectRouter } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { httpStatusFor, reasonOf, withReason } from "../../src/shared/connect-errors.ts";
import { addProtocolErrorReasons, reasonedProtocolError } from "../../src/shared/server/protocol-error-reasons.ts";

describe("reasonedProtocolError", () => {
  it("makes a binary parse failure invalid_argument, not internal", () => {
    const fixed = reasonedProtocolError(new ConnectError("parse binary: maximum recursion depth reached", Code.Internal));
    assert.equal(fixed?.code, Code.InvalidArgument);
    assert.equal(reasonOf(fixed!), "invalid_argument");
    assert.match(fixed!.rawMessage, /^invalid_argument: the request message is not valid protobuf \(parse binary: maximum recursion depth reached\)$/);
  });

  it("makes readMaxBytes payload_too_large, with HTTP 413", () => {
    const fixed = reasonedProtocolError(new ConnectError("message size 2000000 is larger than configured readMaxBytes 1048576", Code.ResourceExhausted));
    assert.equal(fixed?.code, Code.ResourceExhausted);
    assert.equal(reasonOf(fixed!), "payload_too_large");
    assert.equal(httpStatusFor(fixed!), 413);
    assert.equal(fixed!.metadata.get("retry-after"), null);
  });

  it("leaves errors that have a reason, and internal faults that are the server's, alone", () => {
    assert.equal(reasonedProtocolError(withReason("not_found", "no", {})), undefined);
    assert.equal(reasonedProtocolError(new ConnectError("internal error", Code.Internal)), undefined);
    assert.equal(reasonedProtocolError(new ConnectError("nope", Code.Unimplemented)), undefined);
  });
});

describe("addProtocolErrorReasons", () => {
  const router = createConnectRouter({ readMaxBytes: 64 });
  router.service(ProviderService, { listProviders: () => ({}), createProvider: () => ({}) });
  const handlers = new Map(router.handlers.map((h) => [h.method.name, addProtocolErrorReasons(h)]));

  async function text(response: UniversalServerResponse): Promise<string> {
    const chunks: Uint8Array[] = [];
    for await (const c of response.body as AsyncIterable<Uint8Array>) chunks.push(c);
    return Buffer.concat(chunks).toString();
  }
  async function* bytes(b: Uint8Array): AsyncIterable<Uint8Array> {
    yield b;
  }
  const post = (contentType: string, body: Uint8Array) => ({
    httpVersion: "1.1", method: "POST", url: "http://x/nexus.broker.v1.ProviderService/CreateProvider",
    header: new Headers({ "content-type": contentType, "connect-protocol-version": "1" }), body: bytes(body), signal: new AbortController().signal,
  });

  it("answers nested groups over Connect binary with 400 invalid_argument", async () => {
    const response = await handlers.get("CreateProvider")!(post("application/proto", new Uint8Array(60).fill(0x7b)));
    assert.equal(response.status, 400);
    assert.match(await text(response), /"code":"invalid_argument".*not valid protobuf.*"reason":"invalid_argument"/);
  });

  it("answers an oversized Connect body with 413 payload_too_large", async () => {
    const response = await handlers.get("CreateProvider")!(post("application/json", new TextEncoder().encode(`{"profile":{"description":"${"x".repeat(100)}"}}`)));
    assert.equal(response.status, 413);
    assert.match(await text(response), /"code":"resource_exhausted".*payload_too_large/);
  });

  it("answers a Connect GET with a message that is not base64 with 400 invalid_argument naming the field", async () => {
    const response = await handlers.get("ListProviders")!({
      httpVersion: "1.1", method: "GET", url: "http://x/nexus.broker.v1.ProviderService/ListProviders?connect=v1&encoding=proto&base64=1&message=%21%21%21",
      header: new Headers(), body: bytes(new Uint8Array()), signal: new AbortController().signal,
    });
    assert.equal(response.status, 400);
    assert.match(await text(response), /not valid base64.*"field":"message"/);
  });

  it("keeps the handler's routing properties", () => {
    const h = handlers.get("ListProviders")!;
    assert.equal(h.requestPath, "/nexus.broker.v1.ProviderService/ListProviders");
    assert.ok(h.protocolNames.includes("connect"));
  });
});
