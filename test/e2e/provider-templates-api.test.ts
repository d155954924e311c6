/**
 * GET /provider-templates and profiles that name a template, against a real
 * Broker: what the catalogue shows, what a registration from a template
 * stores, how fields beside it override it, and every refusal naming its field.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { brokerRest, registerProvider } from "../support/broker-api.ts";
import { startStack, type TestStack } from "../support/stack.ts";

interface TemplateJson {
  name: string;
  display_name: string;
  auth_type: string;
  scopes?: string[];
  docs_url: string;
  setup: { console_url: string; redirect_uri?: string; steps: string[]; refresh?: string };
  placeholders?: { name: string; pattern: string; example: string }[];
  profile: Record<string, unknown>;
  notes?: { about: string; note: string; source: string }[];
}

describe("provider templates (Broker admin API)", () => {
  let stack: TestStack;
  before(async () => {
    stack = await startStack({ brokerOnly: true, brokerEnv: { BASE_URL: "https://nexus.example.com" } });
  });
  after(async () => {
    await stack.close();
  });

  it("GET /provider-templates lists at least 25 templates, each with its setup notes and this Broker's redirect URI", async () => {
    const r = await brokerRest(stack, "GET", "/provider-templates");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const templates = r.body.templates as TemplateJson[];
    assert.ok(templates.length >= 25, `${templates.length} templates`);
    const names = templates.map((t) => t.name);
    for (const n of ["google", "microsoft", "github", "github-app", "slack", "salesforce", "shopify", "stripe", "aws", "airtable"]) assert.ok(names.includes(n), n);
    assert.deepEqual(names, [...names].sort(), "sorted by name");
    for (const t of templates) {
      assert.ok(t.display_name !== "" && t.docs_url.startsWith("https://") && t.setup.console_url.startsWith("https://"), t.name);
      assert.ok(t.setup.steps.length > 0, t.name);
      assert.equal(t.setup.redirect_uri ?? "", t.auth_type === "oauth2" ? "https://nexus.example.com/auth/callback" : "", t.name);
      assert.ok((t.notes ?? []).every((n) => n.source.startsWith("https://")), t.name);
    }
    const ms = templates.find((t) => t.name === "microsoft")!;
    assert.deepEqual(ms.placeholders?.map((p) => p.name), ["tenant"]);
    assert.match(String(ms.profile.auth_url), /\{tenant\}/, "the profile shows where the value goes");
    const github = templates.find((t) => t.name === "github")!;
    assert.deepEqual((github.profile.params as { quirks?: string[] }).quirks, ["form_encoded_response", "error_in_200"]);
    assert.ok(github.notes?.some((n) => n.about === "quirks.error_in_200"), "each quirk is cited");
    const unauthenticated = await fetch(`${stack.broker.url}/provider-templates`);
    assert.equal(unauthenticated.status, 401, "the catalogue is Broker admin");
  });

  it("registers from a template with only a name, a client id and a secret, and stores what the template says", async () => {
    const id = await registerProvider(stack, { name: "sf", template: "salesforce", client_id: "cid", client_secret: "sec" });
    const p = (await brokerRest(stack, "GET", `/providers/${id}`)).body;
    assert.equal(p.template, "salesforce");
    assert.equal(p.auth_type, "oauth2");
    assert.equal(p.auth_url, "https://login.salesforce.com/services/oauth2/authorize");
    assert.equal(p.token_url, "https://login.salesforce.com/services/oauth2/token");
    assert.equal(p.revocation_url, "https://login.salesforce.com/services/oauth2/revoke");
    assert.deepEqual(p.scopes, ["api", "refresh_token"]);
    const params = p.params as Record<string, unknown>;
    assert.deepEqual(params.keep_token_fields, ["instance_url", "id"]);
    assert.equal(params.token_endpoint_auth_method, "client_secret_post");
    assert.equal(p.has_client_secret, true);
  });

  it("fills placeholders from template_values, and refuses a missing, malformed or unknown value naming it", async () => {
    const missing = await brokerRest(stack, "POST", "/providers", { profile: { name: "ms", template: "microsoft", client_id: "c", client_secret: "s" } });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.code, "invalid_argument");
    assert.match(String(missing.body.message), /profile\.template_values\.tenant.*required/);
    const bad = await brokerRest(stack, "POST", "/providers", { profile: { name: "ms", template: "microsoft", client_id: "c", client_secret: "s", template_values: { tenant: "evil.example/x?" } } });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.message), /profile\.template_values\.tenant.*must match/);
    const unknown = await brokerRest(stack, "POST", "/providers", { profile: { name: "ms", template: "microsoft", client_id: "c", client_secret: "s", template_values: { tenant: "common", region: "eu" } } });
    assert.equal(unknown.status, 400);
    assert.match(String(unknown.body.message), /profile\.template_values\.region.*not a placeholder/);
    const id = await registerProvider(stack, { name: "ms", template: "microsoft", client_id: "c", client_secret: "s", template_values: { tenant: "contoso.onmicrosoft.com" } });
    const p = (await brokerRest(stack, "GET", `/providers/${id}`)).body;
    assert.equal(p.auth_url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize");
    assert.deepEqual(p.template_values, { tenant: "contoso.onmicrosoft.com" });
    const shop = await registerProvider(stack, { name: "shop", template: "shopify", client_id: "c", client_secret: "s", template_values: { shop: "acme" } });
    assert.equal((await brokerRest(stack, "GET", `/providers/${shop}`)).body.token_url, "https://acme.myshopify.com/admin/oauth/access_token");
  });

  it("lets fields beside the template override it, authorize_params key by key", async () => {
    const id = await registerProvider(stack, {
      name: "google-drive", template: "google", client_id: "c", client_secret: "s", scopes: ["https://www.googleapis.com/auth/drive.readonly"],
      description: "Drive, read only", params: { authorize_params: { prompt: "select_account", login_hint: "a@example.com" } },
    });
    const p = (await brokerRest(stack, "GET", `/providers/${id}`)).body;
    assert.deepEqual(p.scopes, ["https://www.googleapis.com/auth/drive.readonly"]);
    assert.equal(p.description, "Drive, read only");
    assert.equal(p.token_url, "https://oauth2.googleapis.com/token", "what is not given comes from the template");
    assert.deepEqual((p.params as { authorize_params: Record<string, string> }).authorize_params,
      { access_type: "offline", prompt: "select_account", include_granted_scopes: "true", login_hint: "a@example.com" });
  });

  it("registers a static template with nothing but its name", async () => {
    const id = await registerProvider(stack, { name: "stripe", template: "stripe" });
    const p = (await brokerRest(stack, "GET", `/providers/${id}`)).body;
    assert.equal(p.auth_type, "api_key");
    assert.deepEqual((p.params as { auth_strategy: unknown }).auth_strategy,
      { type: "header", config: { header_name: "Authorization", value_prefix: "Bearer ", credential_field: "api_key" } });
    const aws = await registerProvider(stack, { name: "aws-s3", template: "aws", template_values: { service: "s3", region: "eu-west-1" } });
    assert.deepEqual(((await brokerRest(stack, "GET", `/providers/${aws}`)).body.params as { auth_strategy: unknown }).auth_strategy,
      { type: "aws_sigv4", config: { service: "s3", region: "eu-west-1" } });
  });

  it("refuses an unknown template and an auth_type that contradicts the template, naming the field", async () => {
    const unknown = await brokerRest(stack, "POST", "/providers", { profile: { name: "x", template: "no-such-thing", client_id: "c", client_secret: "s" } });
    assert.equal(unknown.status, 400);
    assert.match(String(unknown.body.message), /profile\.template.*no-such-thing.*google/);
    const contradiction = await brokerRest(stack, "POST", "/providers", { profile: { name: "x", template: "google", auth_type: "api_key" } });
    assert.equal(contradiction.status, 400);
    assert.match(String(contradiction.body.message), /profile\.auth_type/);
    const noSecret = await brokerRest(stack, "POST", "/providers", { profile: { name: "x", template: "google", client_id: "c" } });
    assert.equal(noSecret.status, 400, "the template does not make the client secret optional");
    assert.match(String(noSecret.body.message), /profile\.client_secret/);
  });

  it("PUT applies the template again; a PATCH of template or template_values is refused with where to go", async () => {
    const id = await registerProvider(stack, { name: "shop2", template: "shopify", client_id: "c", client_secret: "s", template_values: { shop: "first" } });
    const patch = await brokerRest(stack, "PATCH", `/providers/${id}`, { profile: { template_values: { shop: "second" } } });
    assert.equal(patch.status, 400);
    assert.match(String(patch.body.message), /UpdateProvider/);
    const put = await brokerRest(stack, "PUT", `/providers/${id}`, { profile: { name: "shop2", template: "shopify", client_id: "c", template_values: { shop: "second" } } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.auth_url, "https://second.myshopify.com/admin/oauth/authorize");
    assert.equal(put.body.has_client_secret, true, "an empty secret keeps the stored one");
    const described = await brokerRest(stack, "PATCH", `/providers/${id}`, { profile: { description: "the second shop" } });
    assert.equal(described.status, 200);
    assert.equal(described.body.template, "shopify", "a PATCH of other fields keeps the template");
  });
});
