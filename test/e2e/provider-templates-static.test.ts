/**
 * Every static-credential provider template (API keys, basic auth, SigV4),
 * registered with nothing but its name (and template values): the capture
 * form is the template's, capture checks the credential live where the
 * template names an endpoint (a wrong one refused, through the Broker's fetch
 * to a stand-in of the provider's API), and the credential an agent gets
 * through the Gateway, applied by the agent client, authenticates a request
 * the way the provider documents it. Then revocation.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { JsonObject } from "@bufbuild/protobuf";
import { applyCredential, createNexusClient, type NexusClient } from "../../src/client/mod.ts";
import { loadTemplateCatalogue } from "../../src/broker/templates/template-catalogue.ts";
import { templateFiles } from "../../src/broker/templates/template-files.ts";
import { brokerRest, registerProvider } from "../support/broker-api.ts";
import { GatewayCallError, type GatewayTestClient, restClient } from "../support/gateway-clients.ts";
import { verifySigV4 } from "../support/sigv4-verifier.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

/** What a user enters for each template, and whether a request carries it as the provider documents. */
interface StaticCase {
  readonly values?: Record<string, string>;
  readonly good: Record<string, string>;
  /** A well-formed credential the provider refuses (for templates whose capture checks live). */
  readonly wrong?: Record<string, string>;
  /** The provider's own check of a request, as its documentation describes the credential. */
  readonly accepts: (request: Request, credentials: Record<string, string>) => Promise<boolean>;
}

const bearer = async (r: Request, c: Record<string, string>) => r.headers.get("authorization") === `Bearer ${c.api_key}`;
const awsSecret = randomBytes(30).toString("base64");
const cases: Readonly<Record<string, StaticCase>> = {
  stripe: { good: { api_key: `sk_test_${hex(12)}` }, accepts: bearer },
  openai: { good: { api_key: `sk-proj-${hex(16)}` }, accepts: bearer },
  anthropic: {
    good: { api_key: `sk-ant-api03-${hex(16)}` },
    accepts: async (r, c) => r.headers.get("x-api-key") === c.api_key && !r.headers.has("authorization"),
  },
  sendgrid: { good: { api_key: `SG.${hex(8)}.${hex(16)}` }, wrong: { api_key: `SG.${hex(8)}.${hex(16)}` }, accepts: bearer },
  twilio: {
    good: { account_sid: `AC${hex(16)}`, auth_token: hex(16) },
    wrong: { account_sid: `AC${hex(16)}`, auth_token: hex(16) },
    accepts: async (r, c) => r.headers.get("authorization") === basic(c.account_sid!, c.auth_token!),
  },
  aws: {
    values: { service: "s3", region: "eu-west-1" },
    good: { access_key: `AKIA${hex(8).toUpperCase()}`, secret_key: awsSecret },
    accepts: async (r, c) => {
      const url = new URL(r.url);
      const verdict = verifySigV4({
        method: r.method, target: `${url.pathname}${url.search}`, body: Buffer.from(await r.arrayBuffer()),
        headers: { ...Object.fromEntries(r.headers), host: url.host },
      }, (key) => (key === c.access_key ? c.secret_key : undefined));
      return verdict.ok && verdict.service === "s3" && verdict.region === "eu-west-1";
    },
  },
};

const catalogue = loadTemplateCatalogue(templateFiles);
const staticTemplates = catalogue.list().filter((t) => t.profile.auth_type !== "oauth2");

describe("static provider templates: capture, the agent's credential, revocation", () => {
  let stack: TestStack;
  let gateway: GatewayTestClient;
  let agent: NexusClient;
  /** Requests the Broker's live checks sent, and the credentials the stand-in APIs accept. */
  const liveChecks: Request[] = [];
  const accepted = new Map<string, { credentials: Record<string, string>; accepts: StaticCase["accepts"] }>();

  before(async () => {
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const request = new Request(input, init);
      liveChecks.push(request.clone());
      const api = accepted.get(new URL(request.url).host);
      return new Response("{}", { status: api !== undefined && await api.accepts(request, api.credentials) ? 200 : 401 });
    };
    stack = await startStack({ fetch });
    gateway = restClient(stack.gateway.url, stack.agentKey);
    agent = createNexusClient({ baseUrl: stack.gateway.url, apiKey: stack.agentKey, logger: {} });
  });
  after(async () => {
    await stack.close();
  });

  it("covers every static template", () => {
    assert.deepEqual(staticTemplates.map((t) => t.name).sort(), Object.keys(cases).sort());
  });

  for (const template of staticTemplates) {
    const c = cases[template.name];
    if (c === undefined) continue;
    it(`${template.name}: registered by name, captured${c.wrong === undefined ? "" : " (a wrong credential refused live)"}, applied as the provider documents, revoked`, async () => {
      const id = await registerProvider(stack, { name: template.name, template: template.name, ...(c.values === undefined ? {} : { template_values: c.values }) });
      const stored = (await brokerRest(stack, "GET", `/providers/${id}`)).body as JsonObject;
      const params = stored.params as JsonObject;
      const apiBase = typeof stored.api_base_url === "string" && stored.api_base_url !== "" ? stored.api_base_url : "https://s3.eu-west-1.amazonaws.com/";
      accepted.set(new URL(apiBase).host, { credentials: c.good, accepts: c.accepts });

      const started = await gateway.requestConnection({ user_id: "ws-static", provider_name: template.name, return_url: "https://app.example.com/back" });
      assert.match(String(started.auth_url), /\/auth\/capture\?state=/);
      const state = String(started.state);
      const form = await restClient(stack.gateway.url).captureSchema(state);
      assert.deepEqual(form.schema, params.credential_schema, "the capture form is the template's");
      const before = liveChecks.length;
      if (c.wrong !== undefined) {
        const refused = await restClient(stack.gateway.url).captureCredential(state, c.wrong).then(() => "accepted", (e: unknown) => (e as GatewayCallError).reason);
        assert.equal(refused, "credential_invalid");
        assert.equal(new URL(liveChecks.at(-1)!.url).href, new URL(String(stored.user_info_endpoint), apiBase).href, "checked at the template's endpoint");
      }
      const captured = await restClient(stack.gateway.url).captureCredential(state, c.good);
      assert.equal(captured.status, "active");
      assert.equal(liveChecks.length - before, stored.user_info_endpoint === "" ? 0 : (c.wrong === undefined ? 1 : 2), "a live check only where the template names one");

      const connectionId = String(started.connection_id);
      const credential = await agent.getToken(connectionId);
      assert.deepEqual(credential.strategy, { type: (params.auth_strategy as JsonObject).type, config: (params.auth_strategy as JsonObject).config });
      assert.deepEqual({ ...credential.credentials }, c.good);
      const request = await applyCredential(new Request(new URL("probe", apiBase), { method: "POST", body: "{}" }), credential);
      assert.ok(await c.accepts(request, c.good), "the provider would accept the request the agent client made");
      assert.ok(!(await c.accepts(await applyCredential(new Request(new URL("probe", apiBase)), { ...credential, credentials: { ...c.good, ...wrongOf(c.good) } }), c.good)));

      assert.equal((await brokerRest(stack, "DELETE", `/connections/${connectionId}`)).status, 200);
      assert.equal((await gateway.checkConnection(connectionId)).status, "revoked");
      const after = await gateway.getToken(connectionId).then(() => "still served", (e: unknown) => (e as GatewayCallError).reason);
      assert.equal(after, "connection_revoked");
    });
  }
});

/** The same fields with other values of the same shape: what a stranger would hold. */
function wrongOf(good: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(good).map(([k, v]) => [k, v.slice(0, -4) + (v.endsWith("0000") ? "1111" : "0000")]));
}
