/**
 * Every OAuth 2.0 provider template, driven end to end against the stand-in
 * of its quirk family (test/support/oauth-stand-in.ts): registered with only
 * a name, a client and its template values; consent at the template's own
 * authorization URL; the code exchange at its token URL, authenticated as the
 * template says; the credential an agent receives through the Gateway (kept
 * token fields included, the refresh token never); refresh; revocation; and
 * a dead refresh token, answered in the family's own error style, ending in
 * attention_required. The Broker's fetch takes the template's https URLs to
 * the stand-in, so the templates are tested as shipped.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { JsonObject } from "@bufbuild/protobuf";
import { loadTemplateCatalogue, type ProviderTemplate } from "../../src/broker/templates/template-catalogue.ts";
import { templateFiles } from "../../src/broker/templates/template-files.ts";
import { brokerRest, deliverCallback, registerProvider } from "../support/broker-api.ts";
import { GatewayCallError, type GatewayTestClient, restClient } from "../support/gateway-clients.ts";
import { createOAuthStandIn, type OAuthStandIn, type RefreshFamily, type WireFamily } from "../support/oauth-stand-in.ts";
import { startStack, type TestStack } from "../support/stack.ts";

/** Each OAuth template's family: how its provider writes requests and answers, and what its refresh does. */
const families: Readonly<Record<string, { wire: WireFamily; refresh: RefreshFamily; reuseIntervalMs?: number; expiresIn?: number | "absent"; tokenType?: string }>> = {
  airtable: { wire: "rfc6749", refresh: "rotate" },
  asana: { wire: "rfc6749", refresh: "keep" },
  atlassian: { wire: "json_body", refresh: "rotate", reuseIntervalMs: 600_000 },
  bitbucket: { wire: "rfc6749", refresh: "rotate" },
  box: { wire: "rfc6749", refresh: "rotate" },
  discord: { wire: "rfc6749", refresh: "rotate" },
  dropbox: { wire: "rfc6749", refresh: "keep" },
  github: { wire: "form_encoded", refresh: "never", expiresIn: "absent" },
  "github-app": { wire: "form_encoded", refresh: "rotate", expiresIn: 28800 },
  gitlab: { wire: "rfc6749", refresh: "rotate" },
  google: { wire: "rfc6749", refresh: "keep" },
  hubspot: { wire: "rfc6749", refresh: "keep" },
  linear: { wire: "rfc6749", refresh: "rotate" },
  microsoft: { wire: "expires_in_string", refresh: "rotate" },
  notion: { wire: "json_body", refresh: "never", expiresIn: "absent" },
  salesforce: { wire: "rfc6749", refresh: "keep", expiresIn: "absent" },
  shopify: { wire: "rfc6749", refresh: "never", expiresIn: "absent" },
  slack: { wire: "ok_false", refresh: "rotate", expiresIn: 43200, tokenType: "bot" },
  spotify: { wire: "rfc6749", refresh: "keep" },
  zoom: { wire: "rfc6749", refresh: "rotate" },
};

const catalogue = loadTemplateCatalogue(templateFiles);
const oauthTemplates = catalogue.list().filter((t) => t.profile.auth_type === "oauth2");
const noted = (t: ProviderTemplate, about: string) => t.notes.some((n) => n.about === about);

describe("OAuth provider templates against their quirk family's stand-in", () => {
  let stack: TestStack;
  let gateway: GatewayTestClient;
  let current: OAuthStandIn | undefined;

  before(async () => {
    // The Broker's every provider call goes to the stand-in of the template under test.
    const fetch: typeof globalThis.fetch = async (input, init) => current === undefined
      ? new Response("no stand-in", { status: 502 })
      : current.handle(new Request(input, init));
    stack = await startStack({ fetch });
    gateway = restClient(stack.gateway.url, stack.agentKey);
  });
  after(async () => {
    await stack.close();
  });

  it("gives every OAuth template a family, and each family matches what the template cites", () => {
    assert.deepEqual(oauthTemplates.map((t) => t.name).sort(), Object.keys(families).sort());
    for (const t of oauthTemplates) {
      const f = families[t.name]!;
      const quirks = (t.profile.params as JsonObject | undefined)?.quirks as string[] | undefined ?? [];
      assert.equal(f.wire === "form_encoded", quirks.includes("form_encoded_response"), t.name);
      assert.equal(f.wire === "ok_false" || f.wire === "form_encoded", quirks.includes("error_in_200"), t.name);
      assert.equal(f.wire === "json_body", quirks.includes("json_request_body"), t.name);
      if (f.wire === "expires_in_string") assert.ok(noted(t, "handled.expires_in_string"), t.name);
      assert.equal(f.refresh === "rotate", noted(t, "handled.rotating_refresh_token"), `${t.name} rotates`);
      assert.equal(f.refresh === "keep", noted(t, "handled.no_refresh_token_on_refresh"), `${t.name} keeps its refresh token`);
      if (f.tokenType !== undefined) assert.ok(noted(t, "handled.token_type"), t.name);
    }
  });

  for (const template of oauthTemplates) {
    const family = families[template.name];
    if (family === undefined) continue;
    describe(`${template.name} (${family.wire}, refresh ${family.refresh})`, () => {
      let stored: JsonObject;
      let standIn: OAuthStandIn;
      let connectionId = "";
      const secret = `secret-${template.name}`;

      /** Starts a connection through the Gateway and consents at the stand-in; returns its id and the auth URL. */
      async function connect(workspace: string): Promise<{ id: string; authUrl: URL }> {
        const started = await gateway.requestConnection({ user_id: workspace, provider_name: template.name, return_url: "https://app.example.com/back" });
        const authUrl = new URL(String(started.auth_url));
        const back = await deliverCallback(stack, standIn.authorize(authUrl.href));
        assert.equal(back.status, 303);
        const location = new URL(back.headers.get("location")!);
        await back.body?.cancel();
        assert.equal(location.searchParams.get("status"), "success", location.href);
        return { id: String(started.connection_id), authUrl };
      }
      async function refusal(p: Promise<unknown>): Promise<string> {
        try {
          await p;
        } catch (error) {
          assert.ok(error instanceof GatewayCallError, String(error));
          return error.reason ?? error.code;
        }
        return "no error";
      }

      before(async () => {
        const values = Object.fromEntries(template.placeholders.map((p) => [p.name, p.example]));
        const id = await registerProvider(stack, { name: template.name, template: template.name, client_id: `${template.name}-client`, client_secret: secret, template_values: values });
        stored = (await brokerRest(stack, "GET", `/providers/${id}`)).body as JsonObject;
        const params = stored.params as JsonObject;
        standIn = createOAuthStandIn({
          ...family,
          tokenUrl: String(stored.token_url),
          ...(stored.revocation_url === "" ? {} : { revocationUrl: String(stored.revocation_url) }),
          client: { id: `${template.name}-client`, secret, method: params.token_endpoint_auth_method === "client_secret_post" ? "client_secret_post" : "client_secret_basic" },
          scopeSeparator: typeof params.scope_separator === "string" ? params.scope_separator : " ",
          extraFields: (params.keep_token_fields as string[] | undefined) ?? [],
        });
        current = standIn;
      });

      it("consent starts at the template's authorization URL with its parameters; the exchange authenticates as the template says", async () => {
        const { id, authUrl } = await connect("ws-templates");
        connectionId = id;
        const params = stored.params as JsonObject;
        assert.equal(`${authUrl.origin}${authUrl.pathname}`, String(stored.auth_url));
        assert.equal(authUrl.searchParams.get("client_id"), `${template.name}-client`);
        assert.equal(authUrl.searchParams.get("response_type"), "code");
        assert.equal(authUrl.searchParams.get("redirect_uri"), "http://127.0.0.1:1/auth/callback");
        const scopes = (stored.scopes as string[] | undefined) ?? [];
        assert.equal(authUrl.searchParams.get("scope"), scopes.length === 0 ? null : scopes.join(typeof params.scope_separator === "string" ? params.scope_separator : " "));
        assert.equal(authUrl.searchParams.get("code_challenge_method"), params.pkce === false ? null : "S256");
        for (const [k, v] of Object.entries((params.authorize_params as Record<string, string> | undefined) ?? {})) assert.equal(authUrl.searchParams.get(k), v, k);
        const exchange = standIn.seen.find((c) => c.endpoint === "token" && c.params.grant_type === "authorization_code")!;
        assert.match(exchange.accept, /application\/json/, "every token request accepts JSON");
        if (family.wire === "json_body") assert.match(exchange.contentType, /application\/json/);
        assert.equal((await gateway.checkConnection(connectionId)).status, "active");
      });

      it("the agent's credential through the Gateway is the provider's access token, with no refresh token", async () => {
        const credential = await gateway.getToken(connectionId);
        const answer = standIn.lastAnswer!;
        assert.equal((credential.strategy as JsonObject).type, "oauth2");
        const credentials = credential.credentials as Record<string, string>;
        assert.equal(credentials.access_token, answer.access_token);
        assert.equal(credentials.token_type, family.tokenType === undefined ? "Bearer" : family.tokenType);
        assert.equal(credential.expires_at === undefined, family.expiresIn === "absent", "expires_at only when the provider says");
        for (const rt of [answer.refresh_token, ...standIn.usableRefreshTokens()]) if (typeof rt === "string") assert.ok(!JSON.stringify(credential).includes(rt));
      });

      const kept = ((template.profile.params as JsonObject | undefined)?.keep_token_fields as string[] | undefined) ?? [];
      if (kept.length > 0) {
        it(`the credential carries the kept token fields (${kept.join(", ")}), after the exchange and after a refresh`, async () => {
          const check = async (credential: JsonObject) => {
            for (const path of kept) assert.equal((credential.credentials as Record<string, string>)[path], valueAt(standIn.lastAnswer!, path), path);
          };
          await check(await gateway.getToken(connectionId));
          if (family.refresh !== "never") await check(await gateway.refresh(connectionId));
        });
      }

      if (family.refresh === "never") {
        it("is not refreshable: the provider gives no refresh token", async () => {
          assert.equal(await refusal(gateway.refresh(connectionId)), "not_refreshable");
        });
      } else {
        it(`refreshes with the stored refresh token (${family.refresh === "rotate" ? "rotated on every use" : "kept across refreshes"})`, async () => {
          const first = await gateway.refresh(connectionId);
          const second = await gateway.refresh(connectionId);
          const grants = standIn.seen.filter((c) => c.endpoint === "token" && c.params.grant_type === "refresh_token");
          assert.ok(grants.length >= 2);
          const [a, b] = grants.slice(-2).map((g) => g.params.refresh_token);
          if (family.refresh === "rotate") assert.notEqual(a, b, "the second refresh presents the rotated token");
          else assert.equal(a, b, "the original refresh token is kept");
          assert.equal((second.credentials as Record<string, string>).access_token, standIn.lastAnswer!.access_token);
          assert.notEqual((first.credentials as Record<string, string>).access_token, (second.credentials as Record<string, string>).access_token);
          if (family.reuseIntervalMs !== undefined) assert.ok(standIn.usableRefreshTokens().includes(a!), "the retired token is still inside its reuse interval");
        });
      }

      it(`revocation ${template.profile.revocation_url !== undefined && family.refresh !== "never" ? "reaches the provider's revocation endpoint" : "removes the connection"}, and the agent gets nothing after`, async () => {
        const usable = standIn.usableRefreshTokens();
        const r = await brokerRest(stack, "DELETE", `/connections/${connectionId}`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal((await gateway.checkConnection(connectionId)).status, "revoked");
        assert.equal(await refusal(gateway.getToken(connectionId)), "connection_revoked");
        const revokes = standIn.seen.filter((c) => c.endpoint === "revoke");
        if (template.profile.revocation_url !== undefined && family.refresh !== "never") {
          assert.equal(revokes.length, 1, "one revocation at the provider");
          assert.ok(usable.includes(revokes[0]!.params.token!) && standIn.revoked.has(revokes[0]!.params.token!), "the live refresh token is revoked");
        } else {
          assert.equal(revokes.length, 0);
        }
      });

      if (family.refresh !== "never") {
        it(`a dead refresh token, answered ${family.wire === "rfc6749" || family.wire === "json_body" || family.wire === "expires_in_string" ? "400 invalid_grant" : "in the family's 200 error style"}, makes the connection attention_required`, async () => {
          const { id } = await connect("ws-dead");
          standIn.killRefreshTokens();
          assert.equal(await refusal(gateway.refresh(id)), "attention_required");
          assert.equal((await gateway.checkConnection(id)).status, "attention_required");
        });
      }
    });
  }
});

/** The value at a dotted path of a token answer. */
function valueAt(body: Record<string, unknown>, path: string): unknown {
  return path.split(".").reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], body);
}
