/**
 * The outbound-URL policy through the Broker's admin API (security.md
 * "Outbound requests", S-28, C-58): every SSRF spelling refused in every URL
 * field at registration and at update, naming the field; the development flag
 * allows loopback and nothing else; a user_info_endpoint cannot carry a
 * captured key off api_base_url's origin, not even from a row stored before
 * the rule; a discovery document naming a private token endpoint is refused;
 * and a name whose DNS answer is loopback is refused at connect time (a fake
 * resolver answers; no real DNS, no real network).
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { startBroker, type RunningService } from "../../src/runtime/node/start-broker.ts";
import { type ApiStandIn, startApiStandIn } from "../support/api-stand-in.ts";
import { brokerRestAt, type JsonReply } from "../support/broker-api.ts";
import { ssrfForms, type SsrfForm } from "../support/ssrf-forms.ts";
import { startStack, type TestStack } from "../support/stack.ts";

/** A URL field of a provider profile, and the profile around it. */
interface FieldCase {
  readonly field: string;
  readonly profile: (url: string) => Record<string, unknown>;
  /** The profile PATCHed fields go into. */
  readonly existing: "oauth" | "static";
  /** The reason a refused form gives in this field; by default the form's own. */
  readonly reason?: RegExp;
  /** The reason at PATCH, when the stored profile around the field changes it. */
  readonly patchReason?: RegExp;
}

const oauth = { auth_type: "oauth2", client_id: "c", client_secret: "s" };
const fields: readonly FieldCase[] = [
  { field: "issuer", existing: "oauth", profile: (url) => ({ ...oauth, issuer: url, enable_discovery: true }) },
  { field: "auth_url", existing: "oauth", profile: (url) => ({ ...oauth, auth_url: url, token_url: "https://idp.example/token" }) },
  { field: "token_url", existing: "oauth", profile: (url) => ({ ...oauth, auth_url: "https://idp.example/authorize", token_url: url }) },
  { field: "api_base_url", existing: "static", profile: (url) => ({ auth_type: "api_key", api_base_url: url }) },
  // Without api_base_url an absolute user_info_endpoint is judged alone; PATCHed onto a provider with one, it leaves its origin.
  { field: "user_info_endpoint", existing: "static", patchReason: /leaves the origin of api_base_url/, profile: (url) => ({ auth_type: "api_key", user_info_endpoint: url }) },
  {
    field: "user_info_endpoint", existing: "static", reason: /leaves the origin of api_base_url/,
    profile: (url) => ({ auth_type: "api_key", api_base_url: "https://api.example.com/v1", user_info_endpoint: url }),
  },
];

/** A resolver for test names only; every test name is loopback. */
const fakeResolver = async (hostname: string) => {
  if (!hostname.endsWith(".test")) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
  return [{ address: "127.0.0.1", family: 4 }];
};

describe("Broker outbound-URL policy (S-28, C-58)", () => {
  /** ALLOW_HTTP_LOOPBACK_PROVIDERS=false, as in production. */
  let stack: TestStack;
  /** The same database, ALLOW_HTTP_LOOPBACK_PROVIDERS=true. */
  let dev: RunningService;
  const ids = { prod: { oauth: "", static: "" }, dev: { oauth: "", static: "" } };

  const prodRest = (method: string, path: string, body?: unknown) => brokerRestAt(stack.broker.url, stack.adminKey, method, path, body);
  const devRest = (method: string, path: string, body?: unknown) => brokerRestAt(dev.url, stack.adminKey, method, path, body);

  before(async () => {
    stack = await startStack({ brokerOnly: true, brokerEnv: { ALLOW_HTTP_LOOPBACK_PROVIDERS: "false" }, resolve: fakeResolver });
    dev = await startBroker({ ...stack.brokerEnv, ALLOW_HTTP_LOOPBACK_PROVIDERS: "true" }, { port: 0, logWrite: (l) => void stack.logs.push(l), resolve: fakeResolver });
    for (const [which, rest] of [["prod", prodRest], ["dev", devRest]] as const) {
      const o = await rest("POST", "/providers", { profile: { name: `${which}-oauth`, ...oauth, auth_url: "https://idp.example/a", token_url: "https://idp.example/t" } });
      const s = await rest("POST", "/providers", { profile: { name: `${which}-static`, auth_type: "api_key", api_base_url: "https://api.example.com/v1", user_info_endpoint: "/me" } });
      assert.equal(o.status, 201, JSON.stringify(o.body));
      assert.equal(s.status, 201, JSON.stringify(s.body));
      ids[which] = { oauth: o.body.id as string, static: s.body.id as string };
    }
  });
  after(async () => {
    await dev.close();
    await stack.close();
  });

  /**
   * A 400 invalid_argument naming `profile.<field>` with `reason`. What the
   * issuer's discovery document or DNS answer is refused for names `issuer`.
   */
  function assertRefused(r: JsonReply, field: string, reason: RegExp, what: string): void {
    assert.equal(r.status, 400, `${what} was accepted: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.code, "invalid_argument", what);
    const named = field === "issuer" ? /(profile\.)?issuer: / : new RegExp(`profile\\.${field}: `);
    assert.match(r.body.message as string, named, `${what}: the field is not named: ${r.body.message}`);
    assert.match(r.body.message as string, reason, `${what}: ${r.body.message}`);
  }

  /** Every form x field at POST and PATCH; nothing is written. */
  async function refuseEverywhere(rest: typeof prodRest, which: "prod" | "dev", forms: readonly SsrfForm[]): Promise<void> {
    const providers = await stack.db.sql`select count(*)::int as n from providers`;
    for (const f of fields) {
      for (const form of forms) {
        const what = `${which} ${f.field} = ${form.url}`;
        assertRefused(await rest("POST", "/providers", { profile: { name: "ssrf-probe", ...f.profile(form.url) } }), f.field, f.reason ?? form.reason, `POST ${what}`);
        const id = ids[which][f.existing];
        const patch = f.profile(form.url);
        delete patch.auth_type;
        assertRefused(await rest("PATCH", `/providers/${id}`, { profile: patch }), f.field, f.patchReason ?? f.reason ?? form.reason, `PATCH ${what}`);
      }
    }
    assert.deepEqual(await stack.db.sql`select count(*)::int as n from providers`, providers, "a refused profile was stored");
    const kept = await rest("GET", `/providers/${ids[which].static}`);
    assert.equal(kept.body.api_base_url, "https://api.example.com/v1");
    assert.equal(kept.body.user_info_endpoint, "/me");
  }

  it(`refuses each of ${ssrfForms.length} SSRF forms in each URL field (issuer, auth_url, token_url, api_base_url, user_info_endpoint) at registration and update, naming the field`, async () => {
    await refuseEverywhere(prodRest, "prod", ssrfForms);
  });

  it("with ALLOW_HTTP_LOOPBACK_PROVIDERS=true, still refuses every form that is not plain loopback, in every field", async () => {
    await refuseEverywhere(devRest, "dev", ssrfForms.filter((f) => f.kind !== "loopback"));
    const loopback = await devRest("POST", "/providers", { profile: { name: "dev-loopback", auth_type: "api_key", api_base_url: "http://127.0.0.1:9/", user_info_endpoint: "http://127.0.0.1:9/me" } });
    assert.equal(loopback.status, 201, JSON.stringify(loopback.body));
    assert.equal((await devRest("DELETE", `/providers/${loopback.body.id}`)).status, 200);
  });

  describe("user_info_endpoint and the captured key", () => {
    let api: ApiStandIn;
    let other: ApiStandIn;
    let providerId: string;
    const key = `sk_live_CANARY_AK_${crypto.randomUUID()}`;

    before(async () => {
      api = await startApiStandIn();
      other = await startApiStandIn();
      const r = await devRest("POST", "/providers", { profile: { name: "leaky-api", auth_type: "api_key", api_base_url: api.url, user_info_endpoint: "/me" } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      providerId = r.body.id as string;
    });
    after(async () => {
      await api.close();
      await other.close();
    });

    const otherHost = () => new URL(other.url).host;
    const escapes = () => [`//${otherHost()}/x`, `/\\${otherHost()}/x`, `\\\\${otherHost()}/x`, `/\t/${otherHost()}/x`, `${other.url}/x`, "//169.254.169.254/latest/meta-data/", "/\\169.254.169.254/latest/meta-data/"];

    it("refuses //host/x, /\\host/x and kin at registration and update, naming user_info_endpoint", async () => {
      for (const ref of escapes()) {
        const created = await devRest("POST", "/providers", { profile: { name: "leaky-probe", auth_type: "api_key", api_base_url: api.url, user_info_endpoint: ref } });
        assertRefused(created, "user_info_endpoint", /leaves the origin|backslashes|control characters/, JSON.stringify(ref));
        const patched = await devRest("PATCH", `/providers/${providerId}`, { profile: { user_info_endpoint: ref } });
        assertRefused(patched, "user_info_endpoint", /leaves the origin|backslashes|control characters/, JSON.stringify(ref));
      }
    });

    it("a row stored before the rule (//host/x, /\\host/x, metadata) sends the key nowhere at capture: the other host receives nothing", async () => {
      for (const ref of escapes()) {
        await stack.db.sql`update providers set user_info_endpoint = ${ref} where id = ${providerId}`;
        const started = await devRest("POST", "/connections", { workspace_id: "ws-ssrf", provider_name: "leaky-api", return_url: "https://app.example.com/back" });
        assert.equal(started.status, 200, JSON.stringify(started.body));
        const captured = await devRest("POST", "/capture-credential", { state: started.body.state, credentials: { api_key: key } });
        assert.equal(captured.status, 400, `${JSON.stringify(ref)}: ${JSON.stringify(captured.body)}`);
        assert.equal(captured.body.code, "invalid_argument");
        assert.match(captured.body.message as string, /user_info_endpoint: .*(leaves the origin|backslashes|control characters)/);
        assert.equal((await devRest("GET", `/connections/${started.body.connection_id}`)).body.status, "pending", "the connection was activated");
      }
      assert.deepEqual(other.seen, [], "the other host received a request");
      assert.equal(api.seen.length, 0, "nothing was sent at all");
      // The same provider with a path on its own origin checks the key where it should.
      await stack.db.sql`update providers set user_info_endpoint = '/me' where id = ${providerId}`;
      const started = await devRest("POST", "/connections", { workspace_id: "ws-ssrf", provider_name: "leaky-api", return_url: "https://app.example.com/back" });
      const ok = await devRest("POST", "/capture-credential", { state: started.body.state, credentials: { api_key: key } });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.deepEqual(api.seen.map((s) => s.target), ["/me"]);
      assert.deepEqual(other.seen, []);
    });
  });

  it("refuses a discovery document whose token_endpoint (or another endpoint) is on a private, metadata or embedded-loopback address", async () => {
    let doc: Record<string, unknown> = {};
    const idp: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(doc));
    });
    await new Promise<void>((resolve) => idp.listen(0, "127.0.0.1", resolve));
    const issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    try {
      const good = { issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks` };
      for (const [name, url] of [
        ["token_endpoint", "http://10.0.0.1/token"], ["token_endpoint", "https://192.168.1.1/token"], ["token_endpoint", "https://[::ffff:a9fe:a9fe]/token"],
        ["token_endpoint", "http://[::ffff:127.0.0.1]/token"], ["token_endpoint", "https://169.254.169.254/token"], ["jwks_uri", "https://[fd00:ec2::254]/jwks"],
        ["revocation_endpoint", "https://100.64.0.1/revoke"], ["userinfo_endpoint", "https://metadata.google.internal/userinfo"],
      ] as const) {
        doc = { ...good, [name]: url };
        const r = await devRest("POST", "/providers", { profile: { name: "private-doc", ...oauth, issuer, enable_discovery: true } });
        assertRefused(r, "issuer", new RegExp(`unacceptable ${name}: .*points at`), `${name} = ${url}`);
      }
      assert.equal((await devRest("GET", "/providers/by-name/private-doc")).status, 404, "nothing half-written");
    } finally {
      idp.closeAllConnections();
      await new Promise((resolve) => idp.close(resolve));
    }
  });

  describe("DNS answers (fake resolver: *.test is 127.0.0.1)", () => {
    let target: Server;
    let port = 0;
    let connections = 0;
    before(async () => {
      target = createServer((_req, res) => res.end("{}"));
      target.on("connection", () => void connections++);
      await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
      port = (target.address() as AddressInfo).port;
    });
    after(async () => {
      target.closeAllConnections();
      await new Promise((resolve) => target.close(resolve));
    });

    it("an issuer whose name resolves to loopback is refused at connect time, naming the issuer; no connection is made", async () => {
      const r = await prodRest("POST", "/providers", { profile: { name: "dns-idp", ...oauth, issuer: `https://idp.test:${port}`, enable_discovery: true } });
      assertRefused(r, "issuer", /idp\.test \(resolves to 127\.0\.0\.1\) refused: it is a loopback address/, "issuer idp.test");
      assert.equal(connections, 0);
    });

    it("a captured key for an api_base_url whose name resolves to loopback is refused at connect time and never sent", async () => {
      const created = await prodRest("POST", "/providers", { profile: { name: "dns-api", auth_type: "api_key", api_base_url: `https://api.test:${port}`, user_info_endpoint: "/me" } });
      assert.equal(created.status, 201, "a public-looking name passes registration: its answer is checked at connect time");
      const started = await prodRest("POST", "/connections", { workspace_id: "ws-dns", provider_name: "dns-api", return_url: "https://app.example.com/back" });
      const captured = await prodRest("POST", "/capture-credential", { state: started.body.state, credentials: { api_key: "sk_live_CANARY_AK_dns" } });
      assert.equal(captured.status, 400, JSON.stringify(captured.body));
      assert.equal(captured.body.code, "invalid_argument");
      assert.match(captured.body.message as string, /api\.test \(resolves to 127\.0\.0\.1\) refused/);
      assert.equal(connections, 0, "the Broker connected to the address the name resolved to");
    });

    it("a code exchange at a token_url whose name resolves to loopback fails the connection (code_exchange_failed); no code or secret leaves", async () => {
      const created = await prodRest("POST", "/providers", {
        profile: { name: "dns-oauth", ...oauth, client_secret: "CANARY_CS_dns", auth_url: `https://idp.test:${port}/authorize`, token_url: `https://idp.test:${port}/token` },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const started = await prodRest("POST", "/connections", { workspace_id: "ws-dns", provider_name: "dns-oauth", return_url: "https://app.example.com/back" });
      assert.equal(started.status, 200, JSON.stringify(started.body));
      const state = new URL(started.body.auth_url as string).searchParams.get("state")!;
      const res = await fetch(`${stack.broker.url}/auth/callback?state=${encodeURIComponent(state)}&code=CANARY_CODE_dns`, { redirect: "manual" });
      assert.equal(res.status, 303);
      const location = new URL(res.headers.get("location")!);
      assert.equal(location.searchParams.get("status"), "error");
      assert.equal(location.searchParams.get("error"), "code_exchange_failed");
      const conn = await prodRest("GET", `/connections/${started.body.connection_id}`);
      assert.equal(conn.body.status, "failed");
      assert.equal(connections, 0, "the Broker connected to the address the name resolved to");
      const [event] = await stack.db.sql<{ details: Record<string, unknown> }[]>`
        select details from audit_events where event_type = 'callback.failed' and connection_id = ${started.body.connection_id as string}`;
      assert.equal(event?.details.provider_error, "outbound_refused", "the audit log tells the operator why");
      const logs = stack.logs.join("");
      for (const canary of ["CANARY_CODE_dns", "CANARY_CS_dns"]) assert.ok(!logs.includes(canary), `${canary} is logged`);
    });
  });
});
