// The Gateway's transport to the Broker, against small local HTTP servers that
// script the Broker's side: fault injection (hangs, proxies answering HTML,
// refused connections) and the Connect error format. The happy path runs against
// the real Broker in every Gateway end-to-end test.
import assert from "node:assert/strict";
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { ConnectionService } from "../../gen/nexus/broker/v1/connection_service_pb.ts";
import { GetTokenResponseSchema } from "../../gen/nexus/common/v1/token_pb.ts";
import { createBrokerTransport } from "../../src/runtime/node/broker-transport.ts";
import { reasonOf, withReason } from "../../src/shared/connect-errors.ts";

const agent = new Agent({ keepAlive: true });
const servers: Server[] = [];
after(() => {
  agent.destroy();
  for (const s of servers) s.close();
});

type Seen = { path: string; header: IncomingMessage["headers"]; closed: Promise<void> };

async function broker(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: URL; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? "", header: req.headers, closed: new Promise((r) => res.once("close", () => r())) });
    req.resume();
    req.on("end", () => answer(req, res));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), seen };
}

const withKey: Interceptor = (next) => (req) => {
  req.header.set("x-api-key", "k-1");
  return next(req);
};
const client = (url: URL, defaultTimeoutMs = 30_000) =>
  createClient(ConnectionService, createBrokerTransport({ baseUrl: url, agent, interceptors: [withKey], defaultTimeoutMs }));
const id = "00000000-0000-4000-8000-000000000001";
const codeOf = (code: Code) => (e: unknown) => e instanceof ConnectError && e.code === code;

describe("the Gateway's transport to the Broker", () => {
  it("posts binary Connect with the interceptors' headers and the deadline, and decodes the answer", async () => {
    const { url, seen } = await broker((_req, res) => {
      const body = toBinary(GetTokenResponseSchema, create(GetTokenResponseSchema, { credential: { credentials: { api_key: "sk_1" } } }));
      res.writeHead(200, { "content-type": "application/proto", "trailer-x-done": "yes" }).end(body);
    });
    const trailers: Headers[] = [];
    const r = await client(url).getToken({ connectionId: id }, { timeoutMs: 1500, onTrailer: (t) => trailers.push(t) });
    assert.equal(r.credential?.credentials.api_key, "sk_1");
    assert.equal(seen[0]?.path, "/nexus.broker.v1.ConnectionService/GetToken");
    assert.equal(seen[0]?.header["x-api-key"], "k-1");
    assert.equal(seen[0]?.header["content-type"], "application/proto");
    assert.equal(seen[0]?.header["connect-timeout-ms"], "1500");
    assert.equal(trailers[0]?.get("x-done"), "yes");
  });

  it("gives back the Broker's code, message and reason", async () => {
    const { url } = await broker((_req, res) => {
      const error = withReason("attention_required", "the grant was revoked", {});
      res.writeHead(412, { "content-type": "application/json" }).end(errorToJsonBytes(error, {}));
    });
    const error = await client(url).getToken({ connectionId: id }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ConnectError);
    assert.equal(error.code, Code.FailedPrecondition);
    assert.equal(reasonOf(error), "attention_required");
    assert.match(error.rawMessage, /the grant was revoked/);
  });

  it("maps an answer that is not Connect (a proxy's HTML 502) to unavailable, without its body", async () => {
    const { url } = await broker((_req, res) => res.writeHead(502, { "content-type": "text/html" }).end("<html>Bad Gateway secret-page</html>"));
    const error = await client(url).getToken({ connectionId: id }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ConnectError);
    assert.equal(error.code, Code.Unavailable);
    assert.doesNotMatch(error.message, /secret-page/);
  });

  it("ends a call at its deadline and closes the connection it used", async () => {
    const { url, seen } = await broker(() => {}); // never answers
    const t0 = Date.now();
    await assert.rejects(client(url).getToken({ connectionId: id }, { timeoutMs: 200 }), codeOf(Code.DeadlineExceeded));
    assert.ok(Date.now() - t0 < 2000);
    await seen[0]!.closed;
  });

  it("applies its default deadline when the caller sets none", async () => {
    const { url } = await broker(() => {});
    await assert.rejects(client(url, 150).getToken({ connectionId: id }), codeOf(Code.DeadlineExceeded));
  });

  it("cancels with the caller's signal, before and during the call", async () => {
    const { url, seen } = await broker(() => {});
    const early = new AbortController();
    early.abort();
    await assert.rejects(client(url).getToken({ connectionId: id }, { signal: early.signal }), codeOf(Code.Canceled));
    // "During" means the Broker has the request: abort once it arrived, not after a fixed delay a slow host outlasts.
    const late = new AbortController();
    const call = client(url).getToken({ connectionId: id }, { signal: late.signal });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    late.abort();
    await assert.rejects(call, codeOf(Code.Canceled));
    await seen.at(-1)!.closed;
  });

  it("reports a Broker that is not listening as unavailable", async () => {
    const { url } = await broker(() => {});
    servers.at(-1)!.close();
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(client(url).getToken({ connectionId: id }), codeOf(Code.Unavailable));
  });
});
