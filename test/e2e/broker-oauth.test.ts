import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { brokerRest, deliverCallback, recordingFetch, registerProvider } from "../support/broker-api.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";

const redirectUri = "http://127.0.0.1:1/auth/callback";

describe("Broker against a real OpenID provider", () => {
  let idp: TestIdp;
  let fixedIdp: TestIdp;
  let stack: TestStack;
  const recorder = recordingFetch();
  let providerId: string;

  before(async () => {
    idp = await startTestIdp({ clients: [{ client_id: "nexus", client_secret: "nexus-secret", redirect_uris: [redirectUri] }] });
    fixedIdp = await startTestIdp({
      clients: [{ client_id: "nexus-post", client_secret: "post-secret", redirect_uris: [redirectUri], token_endpoint_auth_method: "client_secret_post" }],
      rotateRefreshTokens: false,
    });
    stack = await startStack({ brokerOnly: true, fetch: recorder.fetch });
    providerId = await registerProvider(stack, {
      name: "test-idp", auth_type: "oauth2", client_id: "nexus", client_secret: "nexus-secret",
      issuer: idp.issuer, enable_discovery: true, scopes: ["openid", "email", "offline_access"], aliases: ["idp"],
    });
  });
  after(async () => {
    await stack.close();
    await idp.close();
    await fixedIdp.close();
  });

  async function connect(provider = "test-idp", via = idp, scopes: string[] = []): Promise<string> {
    const started = await brokerRest(stack, "POST", "/connections", {
      workspace_id: "ws-1", provider_name: provider, scopes, return_url: "https://app.example.com/done?keep=1",
    });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const redirect = await via.authorize(started.body.auth_url as string);
    const res = await deliverCallback(stack, redirect);
    assert.equal(res.status, 303);
    const location = new URL(res.headers.get("location")!);
    assert.equal(location.origin + location.pathname, "https://app.example.com/done");
    assert.equal(location.searchParams.get("status"), "success", location.href);
    assert.equal(location.searchParams.get("keep"), "1");
    assert.equal(location.searchParams.get("connection_id"), started.body.connection_id);
    return started.body.connection_id as string;
  }

  async function userinfo(accessToken: string, via = idp): Promise<Response> {
    return fetch(`${via.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  }

  it("registers a provider by issuer alone, and never returns its client secret", async () => {
    const got = await brokerRest(stack, "GET", `/providers/${providerId}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.name, "test-idp");
    assert.equal(got.body.has_client_secret, true);
    assert.equal("client_secret" in got.body, false);
    assert.ok(!JSON.stringify(got.body).includes("nexus-secret"));
    assert.equal((await brokerRest(stack, "GET", "/providers/by-name/idp")).body.id, providerId, "found by alias");
  });

  it("starts with PKCE S256, a nonce for openid, the default scopes, and a signed state", async () => {
    const started = await brokerRest(stack, "POST", "/connections", {
      workspace_id: "ws-1", provider_id: providerId, return_url: "https://app.example.com/done",
    });
    assert.equal(started.status, 200);
    const url = new URL(started.body.auth_url as string);
    assert.equal(url.origin, idp.issuer);
    assert.equal(url.searchParams.get("code_challenge_method"), "S256");
    assert.match(url.searchParams.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/);
    assert.match(url.searchParams.get("nonce") ?? "", /^[A-Za-z0-9_-]{43}$/);
    assert.equal(url.searchParams.get("scope"), "openid email offline_access");
    assert.equal(url.searchParams.get("state"), started.body.state);
    assert.equal(url.searchParams.get("redirect_uri"), redirectUri);
    const status = await brokerRest(stack, "GET", `/connections/${started.body.connection_id}`);
    assert.equal(status.body.status, "pending");
    assert.ok((started.body.expires_at as number) > Date.now() / 1000 + 500);
  });

  it("connects end to end: code + PKCE + nonce, id_token checked, and the access token works at userinfo", async () => {
    const id = await connect();
    const conn = await brokerRest(stack, "GET", `/connections/${id}`);
    assert.equal(conn.body.status, "active");
    // What the provider granted, not what was asked: oidc-provider drops offline_access without prompt=consent.
    assert.deepEqual(conn.body.scopes, ["openid", "email", "offline_access"]);
    assert.deepEqual(conn.body.granted_scopes, ["openid", "email"]);
    const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
    assert.equal(token.status, 200);
    assert.deepEqual(token.body.strategy, { type: "oauth2", config: {} });
    const creds = token.body.credentials as Record<string, string>;
    assert.equal(creds.token_type, "Bearer");
    assert.equal("refresh_token" in creds, false, "a refresh token never leaves the Broker");
    assert.ok(Math.abs((token.body.expires_at as number) - (Date.now() / 1000 + 60)) < 10);
    const me = await userinfo(creds.access_token!);
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { sub: string }).sub, "test-user");
  });

  it("refreshes with rotation: the rotated refresh token is stored, so refreshing again works", async () => {
    const id = await connect();
    const first = ((await brokerRest(stack, "GET", `/connections/${id}/token`)).body.credentials as Record<string, string>).access_token;
    const r1 = await brokerRest(stack, "POST", `/connections/${id}/refresh`);
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    const second = (r1.body.credentials as Record<string, string>).access_token!;
    assert.notEqual(second, first);
    const r2 = await brokerRest(stack, "POST", `/connections/${id}/refresh`);
    assert.equal(r2.status, 200, `the old refresh token would have been reuse-detected: ${JSON.stringify(r2.body)}`);
    assert.equal((await userinfo((r2.body.credentials as Record<string, string>).access_token!)).status, 200);
  });

  it("refreshes without rotation (client_secret_post), keeping the stored refresh token", async () => {
    await registerProvider(stack, {
      name: "fixed-idp", auth_type: "oauth2", client_id: "nexus-post", client_secret: "post-secret", issuer: fixedIdp.issuer,
      enable_discovery: true, scopes: ["openid", "offline_access"], params: { token_endpoint_auth_method: "client_secret_post" },
    });
    const id = await connect("fixed-idp", fixedIdp);
    for (let i = 0; i < 3; i++) {
      const r = await brokerRest(stack, "POST", `/connections/${id}/refresh`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal((await userinfo((r.body.credentials as Record<string, string>).access_token!, fixedIdp)).status, 200);
    }
  });

  it("a revoked grant makes the connection attention_required, and GetToken names that reason", async () => {
    const id = await connect();
    await idp.revokeAll();
    const refresh = await brokerRest(stack, "POST", `/connections/${id}/refresh`);
    assert.equal(refresh.status, 400);
    assert.equal(refresh.body.code, "failed_precondition");
    assert.match(refresh.body.message as string, /^attention_required: /);
    assert.equal((await brokerRest(stack, "GET", `/connections/${id}`)).body.status, "attention_required");
    assert.equal((await brokerRest(stack, "GET", `/connections/${id}`)).body.status_reason, "invalid_grant");
    const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
    assert.equal(token.body.code, "failed_precondition");
    assert.match(token.body.message as string, /^attention_required: /);
    const audit = await brokerRest(stack, "GET", `/audit?connection_id=${id}`);
    const types = (audit.body.events as { event_type: string }[]).map((e) => e.event_type);
    assert.ok(types.includes("token.refresh_failed"), types.join(","));
    assert.ok(types.includes("connection.attention_required"), types.join(","));
  });

  it("a concurrent double callback exchanges the code once", async () => {
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: "ws-2", provider_name: "test-idp", return_url: "https://app.example.com/" });
    const redirect = await idp.authorize(started.body.auth_url as string);
    const before = recorder.tokenRequests;
    const [a, b] = await Promise.all([deliverCallback(stack, redirect), deliverCallback(stack, redirect)]);
    assert.equal(recorder.tokenRequests - before, 1, "one code exchange");
    assert.deepEqual([a.status, b.status].sort(), [303, 400]);
    const page = [a, b].find((r) => r.status === 400)!;
    assert.match(await page.text(), /already used/);
    assert.equal(page.headers.get("cache-control"), "no-store");
    const replay = await deliverCallback(stack, redirect);
    assert.equal(replay.status, 400, "a replay after success is refused");
    assert.equal((await brokerRest(stack, "GET", `/connections/${started.body.connection_id}`)).body.status, "active");
  });

  it("a denied consent sends the user back with status=error&error=access_denied and marks the connection failed", async () => {
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: "ws-3", provider_name: "test-idp", return_url: "https://app.example.com/cb" });
    const redirect = await idp.authorize(started.body.auth_url as string, { deny: true });
    const res = await deliverCallback(stack, redirect);
    assert.equal(res.status, 303);
    const location = new URL(res.headers.get("location")!);
    assert.equal(location.searchParams.get("status"), "error");
    assert.equal(location.searchParams.get("error"), "access_denied");
    assert.equal(location.searchParams.get("connection_id"), started.body.connection_id);
    const conn = await brokerRest(stack, "GET", `/connections/${started.body.connection_id}`);
    assert.equal(conn.body.status, "failed");
    assert.equal(conn.body.status_reason, "access_denied");
  });

  it("stores no plaintext token: every access and refresh token the provider issued is absent from the rows", async () => {
    const tokens = recorder.tokenResponses.flatMap((body) => {
      const j = JSON.parse(body) as Record<string, string>;
      return [j.access_token, j.refresh_token, j.id_token].filter((t): t is string => typeof t === "string");
    });
    assert.ok(tokens.length >= 10, `captured ${tokens.length} tokens`);
    const rows = JSON.stringify(
      [...(await stack.db.sql`select * from credentials`), ...(await stack.db.sql`select * from handshakes`), ...(await stack.db.sql`select * from connections`),
        ...(await stack.db.sql`select * from audit_events`), ...(await stack.db.sql`select * from providers`)],
      (_k, v) => (typeof v === "bigint" ? String(v) : v),
    );
    for (const t of tokens) assert.ok(!rows.includes(t), "a token is stored in plaintext");
    assert.ok(!rows.includes("nexus-secret"), "the client secret is stored in plaintext");
    for (const t of tokens) assert.ok(!stack.logs.join("").includes(t), "a token reached the logs");
  });
});
