import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { Health } from "../../gen/grpc/health/v1/health_pb.ts";
import {
  applyCredential, applyCredentialToUrl, authenticatedFetch, createNexusClient, createTokenCache, type Credential, credentialHeaders,
  credentialInterceptor, type NexusClient, NexusClientError,
} from "../../src/client/mod.ts";
import { type ApiStandIn, type SeenRequest, startApiStandIn } from "../support/api-stand-in.ts";
import { type ClientStack, clientError, connectOAuth, connectStatic, registerIdp, registerStatic, startClientStack } from "../support/client-stack.ts";
import { verifySigV4 } from "../support/sigv4-verifier.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";

describe("client strategies: credentials from the Gateway, applied to requests a stand-in API verifies", () => {
  let stack: ClientStack;
  let idp: TestIdp;
  let api: ApiStandIn;
  let client: NexusClient;
  const secrets = {
    header: `hk_${randomBytes(8).toString("hex")}`,
    query: `qk_${randomBytes(8).toString("hex")}`,
    user: "zoë@example.com",
    password: `pä ss:${randomBytes(4).toString("hex")}`,
    hmac256: `hs_${randomBytes(12).toString("hex")}`,
    hmac1: `h1_${randomBytes(12).toString("hex")}`,
    awsAccess: `AKIA${randomBytes(8).toString("hex").toUpperCase()}`,
    awsSecret: randomBytes(30).toString("base64"),
    awsSession: `session/${randomBytes(20).toString("base64")}`,
  };
  const ids: Record<string, string> = {};

  before(async () => {
    idp = await startTestIdp({ clients: [{ client_id: "agent-app", client_secret: "s3cret", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }] });
    stack = await startClientStack();
    api = await startApiStandIn();
    client = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, logger: {} });
    await registerIdp(stack, idp, "idp", "agent-app", "s3cret");
    await registerStatic(stack, "acme-header", "header", { type: "header", config: { header_name: "X-Acme-Key", value_prefix: "Token ", credential_field: "api_key" } }, ["api_key"]);
    await registerStatic(stack, "acme-query", "query_param", { type: "query_param", config: { param_name: "key", credential_field: "api_key" } }, ["api_key"]);
    await registerStatic(stack, "acme-basic", "basic_auth", { type: "basic_auth", config: { username_field: "login", password_field: "pass" } }, ["login", "pass"]);
    await registerStatic(stack, "acme-hmac", "hmac_payload", { type: "hmac_payload", config: { header_name: "X-Signature", secret_field: "api_secret", algo: "sha256", encoding: "hex" } }, ["api_secret"]);
    await registerStatic(stack, "acme-hmac-sha1", "hmac_payload", { type: "hmac_payload", config: { header_name: "X-Hub-Signature", secret_field: "signing_secret", algo: "sha1", encoding: "base64" } }, ["signing_secret"]);
    await registerStatic(stack, "acme-aws", "aws_sigv4", { type: "aws_sigv4", config: { service: "execute-api", region: "eu-west-1" } }, ["access_key", "secret_key", "session_token"]);
    ids.oauth = await connectOAuth(stack, idp, "idp", "ws-strategies");
    ids.header = await connectStatic(stack, "acme-header", "ws-strategies", { api_key: secrets.header });
    ids.query = await connectStatic(stack, "acme-query", "ws-strategies", { api_key: secrets.query });
    ids.basic = await connectStatic(stack, "acme-basic", "ws-strategies", { login: secrets.user, pass: secrets.password });
    ids.hmac256 = await connectStatic(stack, "acme-hmac", "ws-strategies", { api_secret: secrets.hmac256 });
    ids.hmac1 = await connectStatic(stack, "acme-hmac-sha1", "ws-strategies", { signing_secret: secrets.hmac1 });
    ids.aws = await connectStatic(stack, "acme-aws", "ws-strategies", { access_key: secrets.awsAccess, secret_key: secrets.awsSecret, session_token: secrets.awsSession });
  });
  after(async () => {
    await api.close();
    await stack.close();
    await idp.close();
  });

  /** Applies the connection's credential to `request`, sends it, and returns the status and what the API saw. */
  async function send(connectionId: string, request: Request): Promise<{ status: number; seen: SeenRequest }> {
    const credential = await client.getToken(connectionId);
    const before = api.seen.length;
    const res = await fetch(await applyCredential(request, credential));
    await res.body?.cancel();
    assert.equal(api.seen.length, before + 1);
    return { status: res.status, seen: api.seen.at(-1)! };
  }

  it("oauth2: Authorization: Bearer with an access token the provider accepts", async () => {
    api.check = async (req) => {
      const me = await fetch(`${idp.issuer}/me`, { headers: { authorization: String(req.headers.authorization) } });
      await me.body?.cancel();
      return { status: me.status === 200 && /^Bearer \S+$/.test(String(req.headers.authorization)) ? 200 : 401 };
    };
    const { status } = await send(ids.oauth!, new Request(`${api.url}/me`));
    assert.equal(status, 200);
  });

  it("header: header_name gets value_prefix + the credential field", async () => {
    api.check = (req) => ({ status: req.headers["x-acme-key"] === `Token ${secrets.header}` ? 200 : 401 });
    const credential = await client.getToken(ids.header!);
    assert.deepEqual(credential.strategy, { type: "header", config: { header_name: "X-Acme-Key", value_prefix: "Token ", credential_field: "api_key" } });
    const { status } = await send(ids.header!, new Request(`${api.url}/items`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } }));
    assert.equal(status, 200);
  });

  it("query_param: the parameter is added and the existing query is kept byte for byte", async () => {
    api.check = (req) => ({ status: req.target === `/search?q=a%20b&sort=-date&empty=&key=${secrets.query}` ? 200 : 401 });
    const { status, seen } = await send(ids.query!, new Request(`${api.url}/search?q=a%20b&sort=-date&empty=`));
    assert.equal(status, 200, seen.target);
  });

  it("basic_auth: username_field and password_field, UTF-8 safe", async () => {
    api.check = (req) => {
      const [scheme, encoded = ""] = String(req.headers.authorization).split(" ");
      const decoded = Buffer.from(encoded, "base64").toString("utf8");
      return { status: scheme === "Basic" && decoded === `${secrets.user}:${secrets.password}` ? 200 : 401 };
    };
    const { status } = await send(ids.basic!, new Request(`${api.url}/basic`));
    assert.equal(status, 200);
  });

  it("hmac_payload sha256/hex: the server's HMAC over the raw body it received matches, and the body still arrives", async () => {
    const body = JSON.stringify({ amount: 12.5, note: "naïve café ✓" });
    api.check = (req) => ({ status: req.headers["x-signature"] === createHmac("sha256", secrets.hmac256).update(req.body).digest("hex") ? 200 : 401 });
    const { status, seen } = await send(ids.hmac256!, new Request(`${api.url}/hooks`, { method: "POST", body, headers: { "content-type": "application/json" } }));
    assert.equal(status, 200);
    assert.equal(seen.body.toString("utf8"), body);
    assert.match(String(seen.headers["x-signature"]), /^[0-9a-f]{64}$/);
  });

  it("hmac_payload sha1/base64: over binary body bytes", async () => {
    const body = new Uint8Array(randomBytes(4096));
    api.check = (req) => ({ status: req.headers["x-hub-signature"] === createHmac("sha1", secrets.hmac1).update(req.body).digest("base64") ? 200 : 401 });
    const { status, seen } = await send(ids.hmac1!, new Request(`${api.url}/upload`, { method: "PUT", body }));
    assert.equal(status, 200);
    assert.deepEqual(new Uint8Array(seen.body), body);
  });

  it("aws_sigv4: a verifier written from the AWS spec accepts the signature, which covers the body", async () => {
    const secretFor = (ak: string) => (ak === secrets.awsAccess ? secrets.awsSecret : undefined);
    let verdict: ReturnType<typeof verifySigV4> | undefined;
    api.check = (req) => {
      verdict = verifySigV4(req, secretFor);
      const tokenOk = req.headers["x-amz-security-token"] === secrets.awsSession;
      return { status: verdict.ok && tokenOk ? 200 : 403, body: verdict };
    };
    const body = JSON.stringify({ TableName: "orders", Key: { id: "ü-42" } });
    const request = new Request(`${api.url}/prod/orders/my%20file.json?b=2&a=x%2Fy&a=1`, { method: "POST", body, headers: { "content-type": "application/json", "x-custom": "  spaced   value " } });
    const { status, seen } = await send(ids.aws!, request);
    assert.equal(status, 200, JSON.stringify(verdict));
    assert.ok(verdict?.ok);
    assert.equal(verdict.region, "eu-west-1");
    assert.equal(verdict.service, "execute-api");
    assert.ok(verdict.signedHeaders.includes("x-amz-security-token"), "the session token is signed");
    assert.equal(seen.body.toString("utf8"), body);

    // The verifier is not vacuous: the same signature over other bytes fails.
    const tampered = verifySigV4({ ...seen, body: Buffer.from(body.replace("42", "43")) }, secretFor);
    assert.equal(tampered.ok, false);
    const resigned = verifySigV4({ ...seen, headers: { ...seen.headers, "x-amz-content-sha256": createHmac("sha256", "x").update("").digest("hex") } }, secretFor);
    assert.equal(resigned.ok, false);
  });

  it("an unknown strategy type is an error and no request is sent", async () => {
    const magic: Credential = { strategy: { type: "magic", config: {} }, credentials: { api_key: "k" } };
    const before = api.seen.length;
    const direct = await clientError(applyCredential(new Request(`${api.url}/x`), magic));
    assert.equal(direct.reason, "unsupported_strategy");
    let sent = 0;
    const stub = { getToken: async () => magic } as unknown as NexusClient;
    const fetcher = authenticatedFetch({ client: stub, connectionId: crypto.randomUUID() }, { fetch: async () => (sent++, new Response()), logger: {} });
    const viaFetch = await clientError(fetcher(`${api.url}/x`));
    assert.equal(viaFetch.reason, "unsupported_strategy");
    assert.equal(sent, 0);
    assert.equal(api.seen.length, before, "nothing reached the API");
    assert.equal((await clientError(applyCredential(new Request(`${api.url}/x`), { strategy: { type: "", config: {} }, credentials: {} }))).reason, "credential_invalid");
  });

  it("a missing or empty field, a missing required config, or a non-string config value is credential_invalid naming it", async () => {
    const req = () => new Request(`${api.url}/x`, { method: "POST", body: "b" });
    const cases: [Credential, RegExp][] = [
      [{ strategy: { type: "oauth2", config: {} }, credentials: {} }, /access_token.*missing/],
      [{ strategy: { type: "header", config: { header_name: "X-K", credential_field: "api_key" } }, credentials: { api_key: "" } }, /api_key.*empty/],
      [{ strategy: { type: "header", config: { credential_field: "api_key" } }, credentials: { api_key: "k" } }, /header_name/],
      [{ strategy: { type: "query_param", config: { credential_field: "api_key" } }, credentials: { api_key: "k" } }, /param_name/],
      [{ strategy: { type: "hmac_payload", config: { secret_field: "s" } }, credentials: { s: "x" } }, /header_name/],
      [{ strategy: { type: "hmac_payload", config: { header_name: "X-S", algo: "md5" } }, credentials: { api_secret: "x" } }, /algo/],
      [{ strategy: { type: "aws_sigv4", config: { region: "us-east-1" } }, credentials: { access_key: "a", secret_key: "b" } }, /service/],
      [{ strategy: { type: "aws_sigv4", config: { service: "s3" } }, credentials: { access_key: "a" } }, /secret_key/],
      [{ strategy: { type: "header", config: { header_name: 42 as unknown as string } }, credentials: { api_key: "k" } }, /header_name.*must be a string/],
    ];
    for (const [credential, naming] of cases) {
      const e = await clientError(applyCredential(req(), credential));
      assert.equal(e.reason, "credential_invalid", e.message);
      assert.match(e.message, naming);
    }
  });

  it("credentialHeaders for metadata and handshakes; query_param goes to the URL instead; signing strategies are refused", async () => {
    assert.deepEqual(credentialHeaders(await client.getToken(ids.header!)), { "x-acme-key": `Token ${secrets.header}` });
    assert.deepEqual(credentialHeaders(await client.getToken(ids.basic!)), { authorization: `Basic ${Buffer.from(`${secrets.user}:${secrets.password}`).toString("base64")}` });
    const query = await client.getToken(ids.query!);
    assert.match((await clientError(Promise.resolve().then(() => credentialHeaders(query)))).message, /applyCredentialToUrl/);
    assert.equal(applyCredentialToUrl("wss://stream.example/feed?x=1", query).href, `wss://stream.example/feed?x=1&key=${secrets.query}`);
    for (const id of [ids.hmac256!, ids.aws!]) {
      const e = await clientError(client.getToken(id).then(credentialHeaders));
      assert.equal(e.reason, "unsupported_strategy");
      assert.match(e.message, /applyCredential/);
    }
  });

  describe("credentialInterceptor: the agent's own Connect calls carry the credential", () => {
    let server: Server;
    let baseUrl: string;
    const received: Record<string, string | undefined>[] = [];
    before(async () => {
      const handler = connectNodeAdapter({
        routes: (router) => router.service(Health, {
          check: (_req, ctx) => {
            received.push({ authorization: ctx.requestHeader.get("authorization") ?? undefined, key: ctx.requestHeader.get("x-acme-key") ?? undefined });
            return { status: 1 };
          },
        }),
      });
      server = createServer(handler);
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }));

    it("sets the header of a header strategy and the bearer of an OAuth one, from the token cache", async () => {
      const cache = createTokenCache({ client });
      for (const [id, expect] of [[ids.header!, { key: `Token ${secrets.header}` }], [ids.oauth!, { authorization: /^Bearer \S+$/ }]] as const) {
        const agentClient = createClient(Health, createConnectTransport({
          baseUrl, interceptors: [credentialInterceptor(({ signal }) => cache.get({ connectionId: id }, { signal }))],
        }));
        const res = await agentClient.check({});
        assert.equal(res.status, 1);
        const got = received.at(-1)!;
        if ("key" in expect) assert.equal(got.key, expect.key);
        else assert.match(got.authorization ?? "", expect.authorization);
      }
    });

    it("refuses query_param before anything is sent", async () => {
      const cache = createTokenCache({ client });
      const agentClient = createClient(Health, createConnectTransport({ baseUrl, interceptors: [credentialInterceptor(() => cache.get({ connectionId: ids.query! }))] }));
      const before = received.length;
      const e = await agentClient.check({}).then(() => assert.fail("expected a rejection"), (error: unknown) => error);
      assert.ok(e instanceof ConnectError);
      assert.equal(e.code, Code.Unimplemented);
      assert.equal(e.findDetails(ErrorInfoSchema)[0]?.reason, "unsupported_strategy");
      assert.ok(e.cause instanceof NexusClientError);
      assert.equal(received.length, before);
    });
  });
});
