import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { brokerRest, registerProvider } from "../support/broker-api.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";

describe("Broker provider registry and static credentials", () => {
  let stack: TestStack;
  let idp: TestIdp;
  let api: Server;
  let apiUrl: string;
  const goodKey = "sk_live_CANARY_AK_1234567890";

  before(async () => {
    stack = await startStack({ brokerOnly: true });
    idp = await startTestIdp({ clients: [{ client_id: "c", client_secret: "s", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }] });
    // A stand-in provider API that accepts one key, for the live check at capture.
    api = createServer((req, res) => {
      res.writeHead(req.headers["x-api-key"] === goodKey ? 200 : 401, { "content-type": "application/json" });
      res.end("{}");
    });
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
    apiUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
  });
  after(async () => {
    await stack.close();
    await idp.close();
    await new Promise((r) => api.close(r));
  });

  describe("registration", () => {
    it("rejects bad profiles with invalid_argument naming the field", async () => {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ name: "Bad Name", auth_type: "oauth2" }, /profile\.name/],
        [{ name: "x", auth_type: "magic" }, /profile\.auth_type/],
        [{ name: "x", auth_type: "oauth2", client_id: "c", client_secret: "s" }, /profile\.auth_url/],
        [{ name: "x", auth_type: "oauth2", client_id: "c", client_secret: "s", enable_discovery: true }, /profile\.issuer/],
        [{ name: "x", auth_type: "oauth2", client_secret: "s", auth_url: "https://a.example/a", token_url: "https://a.example/t" }, /profile\.client_id/],
        [{ name: "x", auth_type: "oauth2", client_id: "c", client_secret: "s", auth_url: "http://evil.example/a", token_url: "https://a.example/t" }, /auth_url/],
        [{ name: "x", auth_type: "oauth2", client_id: "c", client_secret: "s", auth_url: "https://a.example/a", token_url: "https://169.254.169.254/t" }, /token_url/],
        [{ name: "x", auth_type: "oauth2", client_id: "c", client_secret: "s", auth_url: "https://a.example/a", token_url: "https://a.example/t", params: { authorize_params: { redirect_uri: "https://evil" } } }, /authorize_params/],
        [{ name: "x", auth_type: "query_param" }, /auth_strategy/],
        [{ name: "x", auth_type: "api_key", client_secret: "s" }, /profile\.client_secret/],
      ];
      for (const [profile, field] of cases) {
        const r = await brokerRest(stack, "POST", "/providers", { profile });
        assert.equal(r.status, 400, JSON.stringify(profile));
        assert.equal(r.body.code, "invalid_argument");
        assert.match(r.body.message as string, field, JSON.stringify(r.body));
      }
      const unknown = await brokerRest(stack, "POST", "/providers", { profile: { name: "x", auth_type: "api_key", params: { not_a_param: true } } });
      assert.equal(unknown.status, 400);
      assert.match(unknown.body.message as string, /not_a_param/);
    });

    it("refuses an issuer whose discovery document has no token_endpoint, saying so", async () => {
      const bare = createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ issuer: `http://127.0.0.1:${(bare.address() as { port: number }).port}`, authorization_endpoint: "http://127.0.0.1/a", jwks_uri: "http://127.0.0.1/j" }));
      });
      await new Promise<void>((r) => bare.listen(0, "127.0.0.1", r));
      try {
        const issuer = `http://127.0.0.1:${(bare.address() as { port: number }).port}`;
        const r = await brokerRest(stack, "POST", "/providers", { profile: { name: "no-token", auth_type: "oauth2", client_id: "c", client_secret: "s", issuer, enable_discovery: true } });
        assert.equal(r.status, 400);
        assert.match(r.body.message as string, /token_endpoint/);
        assert.equal((await brokerRest(stack, "GET", "/providers/by-name/no-token")).status, 404, "nothing half-written");
      } finally {
        await new Promise((r) => bare.close(r));
      }
    });

    it("gives a duplicate name already_exists, and the name is free again after a delete", async () => {
      const id = await registerProvider(stack, { name: "dup", auth_type: "api_key" });
      const again = await brokerRest(stack, "POST", "/providers", { profile: { name: "dup", auth_type: "api_key" } });
      assert.equal(again.status, 409);
      assert.equal(again.body.code, "already_exists");
      assert.equal((await brokerRest(stack, "DELETE", `/providers/${id}`)).status, 200);
      await registerProvider(stack, { name: "dup", auth_type: "api_key" });
    });

    it("updates with PUT (keeping the secret when none is given) and PATCH (only the named fields)", async () => {
      const id = await registerProvider(stack, { name: "crm", auth_type: "oauth2", client_id: "c1", client_secret: "s1", issuer: idp.issuer, enable_discovery: true, description: "old" });
      const patched = await brokerRest(stack, "PATCH", `/providers/${id}`, { profile: { description: "new", category: "crm" } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal(patched.body.description, "new");
      assert.equal(patched.body.category, "crm");
      assert.equal(patched.body.client_id, "c1");
      assert.equal(patched.body.has_client_secret, true);
      const put = await brokerRest(stack, "PUT", `/providers/${id}`, { profile: { name: "crm", auth_type: "oauth2", client_id: "c2", issuer: idp.issuer, enable_discovery: true } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.client_id, "c2");
      assert.equal(put.body.description, "", "PUT replaces the whole profile");
      assert.equal(put.body.has_client_secret, true, "an empty secret keeps the stored one");
      assert.equal((await brokerRest(stack, "PATCH", `/providers/${id}`, { profile: { name: "Not Valid" } })).status, 400);
      // A PATCH naming one key of params changes that key alone: the others stay.
      const withParams = await brokerRest(stack, "PATCH", `/providers/${id}`, { profile: { params: { authorize_params: { prompt: "consent" }, narrow_scopes_on_refresh: true } } });
      assert.equal(withParams.status, 200, JSON.stringify(withParams.body));
      const onlyPkce = await brokerRest(stack, "PATCH", `/providers/${id}`, { profile: { params: { pkce: false } } });
      assert.equal(onlyPkce.status, 200, JSON.stringify(onlyPkce.body));
      const params = onlyPkce.body.params as { pkce?: boolean; authorize_params: Record<string, string>; narrow_scopes_on_refresh: boolean };
      assert.equal(params.pkce, false);
      assert.deepEqual(params.authorize_params, { prompt: "consent" }, "the other params are kept");
      assert.equal(params.narrow_scopes_on_refresh, true);
      assert.equal((await brokerRest(stack, "GET", `/providers/${crypto.randomUUID()}`)).status, 404);
      assert.equal((await brokerRest(stack, "GET", "/providers/not-a-uuid")).body.code, "invalid_argument");
    });
  });

  describe("static credential capture", () => {
    let providerId: string;
    before(async () => {
      providerId = await registerProvider(stack, {
        name: "acme-api", auth_type: "api_key", api_base_url: apiUrl, user_info_endpoint: "/me",
        params: { credential_schema: { type: "object", required: ["api_key"], properties: { api_key: { type: "string", title: "Acme API key", format: "password", maxLength: 200 } } } },
      });
    });

    async function start(): Promise<{ id: string; state: string; authUrl: string }> {
      const r = await brokerRest(stack, "POST", "/connections", { workspace_id: "ws-s", provider_name: "acme-api", return_url: "https://app.example.com/back" });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return { id: r.body.connection_id as string, state: r.body.state as string, authUrl: r.body.auth_url as string };
    }

    it("points auth_url at the capture page, whose form is built from the schema", async () => {
      const { authUrl, state } = await start();
      const url = new URL(authUrl);
      assert.equal(url.pathname, "/auth/capture");
      assert.equal(url.searchParams.get("state"), state);
      const page = await fetch(`${stack.broker.url}/auth/capture${url.search}`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-security-policy") ?? "", /form-action 'self' https:\/\/app\.example\.com/);
      const html = await page.text();
      assert.match(html, /<label for="field-api_key">Acme API key<\/label>/);
      assert.match(html, /type="password"/);
      const schema = await brokerRest(stack, "GET", `/capture-schema?state=${encodeURIComponent(state)}`);
      assert.equal(schema.body.provider_name, "acme-api");
    });

    it("validates against the schema and the provider's API, keeps the state usable after a typo, then activates once", async () => {
      const { id, state } = await start();
      const missing = await brokerRest(stack, "POST", "/capture-credential", { state, credentials: {} });
      assert.equal(missing.body.code, "invalid_argument");
      assert.match(missing.body.message as string, /^credential_invalid: .*api_key/);
      const wrong = await brokerRest(stack, "POST", "/capture-credential", { state, credentials: { api_key: "sk_wrong" } });
      assert.match(wrong.body.message as string, /^credential_invalid: the provider rejected/);
      const extra = await brokerRest(stack, "POST", "/capture-credential", { state, credentials: { api_key: goodKey, other: "x" } });
      assert.match(extra.body.message as string, /^credential_invalid: /);
      const ok = await brokerRest(stack, "POST", "/capture-credential", { state, credentials: { api_key: goodKey } });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.status, "active");
      assert.equal(ok.body.connection_id, id);
      assert.match(ok.body.redirect_url as string, /^https:\/\/app\.example\.com\/back\?status=success&connection_id=/);
      const replay = await brokerRest(stack, "POST", "/capture-credential", { state, credentials: { api_key: goodKey } });
      assert.equal(replay.body.code, "failed_precondition");
      assert.match(replay.body.message as string, /^state_replayed: /);
      const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
      assert.deepEqual(token.body, { strategy: { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } }, credentials: { api_key: goodKey } });
      const rows = JSON.stringify(await stack.db.sql`select * from credentials`, (_k, v) => (typeof v === "bigint" ? String(v) : v));
      assert.ok(!rows.includes(goodKey), "the key is stored encrypted");
      assert.ok(!stack.logs.join("").includes(goodKey), "the key never reaches the logs");
    });

    it("takes the HTML form post of the capture page and redirects the browser back", async () => {
      const { state } = await start();
      const res = await fetch(`${stack.broker.url}/auth/capture`, {
        method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ state, "credentials.api_key": goodKey }).toString(),
      });
      assert.equal(res.status, 303, await res.clone().text());
      assert.match(res.headers.get("location") ?? "", /^https:\/\/app\.example\.com\/back\?status=success&connection_id=/);
      const { state: state2 } = await start();
      const typo = await fetch(`${stack.broker.url}/auth/capture`, {
        method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ state: state2, "credentials.api_key": "nope" }).toString(),
      });
      assert.equal(typo.status, 400);
      assert.match(await typo.text(), /role="alert"[^>]*>[^<]*the provider rejected this credential/);
    });

    it("refuses a capture with an OAuth consent's state", async () => {
      const oauthProvider = await registerProvider(stack, { name: "oidc-x", auth_type: "oauth2", client_id: "c", client_secret: "s", issuer: idp.issuer, enable_discovery: true });
      const r = await brokerRest(stack, "POST", "/connections", { workspace_id: "w", provider_id: oauthProvider, return_url: "https://app.example.com/" });
      const capture = await brokerRest(stack, "POST", "/capture-credential", { state: r.body.state, credentials: { api_key: goodKey } });
      assert.match(capture.body.message as string, /^state_invalid: /);
      assert.equal((await brokerRest(stack, "GET", `/connections/${r.body.connection_id}`)).body.status, "pending");
    });

    it("a soft-deleted provider takes no new connections, and its existing connections keep working", async () => {
      const { state, id } = await start();
      await brokerRest(stack, "POST", "/capture-credential", { state, credentials: { api_key: goodKey } });
      assert.equal((await brokerRest(stack, "DELETE", `/providers/${providerId}`)).status, 200);
      const byId = await brokerRest(stack, "POST", "/connections", { workspace_id: "w", provider_id: providerId, return_url: "https://app.example.com/" });
      assert.match(byId.body.message as string, /^provider_deleted: /);
      const byName = await brokerRest(stack, "POST", "/connections", { workspace_id: "w", provider_name: "acme-api", return_url: "https://app.example.com/" });
      assert.match(byName.body.message as string, /^provider_not_found: /);
      const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
      assert.equal(token.status, 200);
      const resolved = await brokerRest(stack, "GET", `/resolve?workspace_id=ws-s&provider_name=acme-api`);
      assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
      assert.equal((resolved.body.credentials as Record<string, string>).api_key, goodKey);
    });
  });
});
