/**
 * The rules an attacker leans on (issue 15, items 4 to 9): a capture state at
 * the OAuth callback, a catastrophic credential pattern, unbounded metric
 * labels, a live provider's auth type, reserved authorize parameters in
 * another case, and who may read /metrics.
 */
import assert from "node:assert/strict";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { startBroker } from "../../src/runtime/node/start-broker.ts";
import { brokerRest, brokerRestAt, registerProvider } from "../support/broker-api.ts";
import { freePort } from "../support/free-port.ts";
import { startStack, type TestStack } from "../support/stack.ts";

describe("hostile input: the rules behind the API", () => {
  let stack: TestStack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  const count = async (table: string) => Number((await stack.db.sql.unsafe(`select count(*)::int as n from ${table}`))[0]!.n);
  const start = async (provider: string, workspace = "ws-rules") => {
    const r = await brokerRest(stack, "POST", "/connections", { workspace_id: workspace, provider_name: provider, return_url: "https://app.example.com/done" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { connection_id: string; state: string; auth_url: string };
  };
  const oauthProfile = (name: string, extra: Record<string, unknown> = {}) => ({
    name, auth_type: "oauth2", client_id: "client-1", client_secret: "secret-1",
    auth_url: "http://127.0.0.1:9/authorize", token_url: "http://127.0.0.1:9/token", ...extra,
  });

  it("a capture state at /auth/callback is refused without side effects, and still works for the capture", async () => {
    await registerProvider(stack, { name: "rules-static", auth_type: "api_key" });
    const started = await start("rules-static");
    const handshakes = await count("handshakes");
    const page = await fetch(`${stack.broker.url}/auth/callback?code=abc&state=${encodeURIComponent(started.state)}`, { redirect: "manual" });
    assert.equal(page.status, 400);
    assert.match(await page.text(), /This link is not valid/);
    assert.equal(await count("handshakes"), handshakes, "the capture handshake was not consumed");
    const connection = await brokerRest(stack, "GET", `/connections/${started.connection_id}`);
    assert.equal(connection.body.status, "pending");
    const captured = await brokerRest(stack, "POST", "/capture-credential", { state: started.state, credentials: { api_key: "sk-real-key-123456" } });
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    assert.equal(captured.body.status, "active");
  });

  it("a pattern RE2 cannot run (backreference, lookaround) is refused at registration naming the field", async () => {
    for (const pattern of ["^(a)\\1$", "^(?=.*\\d).+$", "(?<!x)y"]) {
      const r = await brokerRest(stack, "POST", "/providers", { profile: {
        name: "rules-bad-pattern", auth_type: "api_key",
        params: { credential_schema: { type: "object", required: ["api_key"], properties: { api_key: { type: "string", pattern } } } },
      } });
      assert.equal(r.status, 400, pattern);
      assert.match(r.body.message as string, /^invalid_argument: profile\.params\.credential_schema: properties\.api_key\.pattern cannot run in linear time/);
    }
  });

  it("^(a|a)+$ with a long input: the capture is refused quickly and the event loop stays responsive", async () => {
    await registerProvider(stack, { name: "rules-redos", auth_type: "api_key", params: {
      credential_schema: { type: "object", required: ["api_key"], properties: { api_key: { type: "string", pattern: "^(a|a)+$" } } },
    } });
    const started = await start("rules-redos");
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    // A concurrent /healthz keeps asking while hostile captures run (a backtracking engine needs ~2^8000 steps for one).
    let probing = true;
    const latencies: number[] = [];
    const prober = (async () => {
      while (probing) {
        const t = performance.now();
        await (await fetch(`${stack.broker.url}/healthz`)).text();
        latencies.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const hostile = `${"a".repeat(8000)}!`;
    const t = performance.now();
    const answers = await Promise.all(Array.from({ length: 10 }, () =>
      fetch(`${stack.gateway.url}/v1/capture-credential`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ state: started.state, credentials: { api_key: hostile } }) })));
    const elapsed = performance.now() - t;
    probing = false;
    await prober;
    loop.disable();
    for (const a of answers) {
      assert.equal(a.status, 400);
      assert.match(((await a.json()) as { message: string }).message, /^credential_invalid: api_key does not have the expected format/);
    }
    const maxDelayMs = loop.max / 1e6;
    assert.ok(elapsed < 5000, `10 hostile captures took ${elapsed} ms`);
    assert.ok(maxDelayMs < 250, `event loop delay peaked at ${maxDelayMs} ms`);
    assert.ok(latencies.length > 0 && Math.max(...latencies) < 1000, `/healthz latencies ${latencies.map(Math.round).join(",")}`);
    // The state is still good: a matching key is captured.
    const ok = await brokerRest(stack, "POST", "/capture-credential", { state: started.state, credentials: { api_key: "a".repeat(8000) } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  it("2,000 unknown provider names at ResolveToken leave /metrics with a constant number of series", async () => {
    const series = (text: string) => text.split("\n").filter((l) => l.startsWith("oauth_token_get_total{"));
    await brokerRest(stack, "GET", "/resolve?workspace_id=ws-metrics&provider_name=warm-up-name");
    const before = await (await fetch(`${stack.broker.url}/metrics`)).text();
    const names = Array.from({ length: 2000 }, (_, i) => `unknown-provider-${i}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map(async (name) => {
        const r = await brokerRest(stack, "GET", `/resolve?workspace_id=ws-metrics&provider_name=${name}`);
        assert.equal(r.status, 404);
      }));
    }
    const afterText = await (await fetch(`${stack.broker.url}/metrics`)).text();
    assert.deepEqual(series(afterText).map((l) => l.replace(/ \d+$/, "")), series(before).map((l) => l.replace(/ \d+$/, "")));
    assert.ok(!afterText.includes("unknown-provider-"), "no caller-chosen text in any label");
    assert.match(afterText, /oauth_token_get_total\{provider="unknown",status="error"\} 2001/);
    assert.ok(afterText.length - before.length < 2048, `/metrics grew by ${afterText.length - before.length} bytes`);
    // A registered provider with no connection in the workspace is labelled with its own name.
    await brokerRest(stack, "GET", "/resolve?workspace_id=ws-metrics&provider_name=rules-static");
    assert.match(await (await fetch(`${stack.broker.url}/metrics`)).text(), /oauth_token_get_total\{provider="rules-static",status="error"\} 1/);
  });

  it("auth_type may change before a provider has connections, and never after (PUT and PATCH), whatever their status", async () => {
    const id = await registerProvider(stack, oauthProfile("rules-auth"));
    const toStatic = await brokerRest(stack, "PUT", `/providers/${id}`, { profile: { name: "rules-auth", auth_type: "api_key" } });
    assert.equal(toStatic.status, 200, JSON.stringify(toStatic.body));
    const back = await brokerRest(stack, "PUT", `/providers/${id}`, { profile: oauthProfile("rules-auth") });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    const started = await start("rules-auth");
    for (const [method, body] of [["PUT", { profile: { name: "rules-auth", auth_type: "api_key" } }], ["PATCH", { profile: { auth_type: "api_key" } }]] as const) {
      const r = await brokerRest(stack, method, `/providers/${id}`, body);
      assert.equal(r.status, 400, `${method}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, "failed_precondition");
      assert.match(r.body.message as string, /^auth_type_immutable: auth_type cannot change from oauth2 to api_key .*register a new provider/);
    }
    // Other fields still change; a revoked connection still counts.
    assert.equal((await brokerRest(stack, "PATCH", `/providers/${id}`, { profile: { description: "still editable" } })).status, 200);
    assert.equal((await brokerRest(stack, "DELETE", `/connections/${started.connection_id}`)).status, 200);
    const afterRevoke = await brokerRest(stack, "PUT", `/providers/${id}`, { profile: { name: "rules-auth", auth_type: "api_key" } });
    assert.equal(afterRevoke.status, 400);
    assert.equal(((await brokerRest(stack, "GET", `/providers/${id}`)).body as { auth_type: string }).auth_type, "oauth2");
  });

  it("reserved authorize parameters are compared without regard to case: in authorize_params and in the auth_url's own query", async () => {
    for (const key of ["Redirect_URI", "STATE", "Client_Id", "Code_Challenge_Method", "Nonce", "SCOPE", "Response_Type"]) {
      const r = await brokerRest(stack, "POST", "/providers", { profile: oauthProfile("rules-reserved", { params: { authorize_params: { [key]: "https://evil.example/" } } }) });
      assert.equal(r.status, 400, key);
      assert.match(r.body.message as string, /params\.authorize_params: .*cannot be overridden/, key);
    }
    await registerProvider(stack, oauthProfile("rules-query", { auth_url: "http://127.0.0.1:9/authorize?Client_ID=evil&Redirect_Uri=https%3A%2F%2Fevil.example%2F&STATE=x&tenant=t1" }));
    const authUrl = new URL((await start("rules-query")).auth_url);
    const keys = [...authUrl.searchParams.keys()];
    assert.deepEqual(keys.filter((k) => /^(client_id|redirect_uri|state)$/i.test(k)).sort(), ["client_id", "redirect_uri", "state"]);
    assert.equal(authUrl.searchParams.get("client_id"), "client-1");
    assert.equal(authUrl.searchParams.get("tenant"), "t1");
    assert.ok(!authUrl.href.includes("evil"), authUrl.href);
  });

  describe("/metrics protection", () => {
    it("is public by default", async () => {
      assert.equal((await fetch(`${stack.broker.url}/metrics`)).status, 200);
    });

    it("METRICS_REQUIRE_API_KEY=true asks for the admin key on /metrics, and /auth stays public", async () => {
      const broker = await startBroker({ ...stack.brokerEnv, METRICS_REQUIRE_API_KEY: "true", LOG_LEVEL: "error" }, { port: 0, logWrite: () => {} });
      try {
        const anonymous = await fetch(`${broker.url}/metrics`);
        assert.equal(anonymous.status, 401);
        assert.match(((await anonymous.json()) as { message: string }).message, /^unauthenticated: GET \/metrics needs the admin API key/);
        assert.equal((await fetch(`${broker.url}/metrics`, { headers: { "x-api-key": "wrong-key-wrong-key" } })).status, 401);
        const withKey = await fetch(`${broker.url}/metrics`, { headers: { "x-api-key": stack.adminKey } });
        assert.equal(withKey.status, 200);
        assert.match(await withKey.text(), /oauth_token_get_total/);
        assert.equal((await fetch(`${broker.url}/metrics`, { headers: { authorization: `Bearer ${stack.adminKey}` } })).status, 200);
        const page = await fetch(`${broker.url}/auth/capture?state=not-a-state`);
        assert.equal(page.status, 400, "the browser routes need no key");
        assert.equal((await fetch(`${broker.url}/healthz`)).status, 200);
      } finally {
        await broker.close();
      }
    });

    it("METRICS_PORT serves /metrics only on 127.0.0.1:<port>, without a key, and not on the main port", async () => {
      const port = await freePort();
      const logs: string[] = [];
      const broker = await startBroker({ ...stack.brokerEnv, METRICS_PORT: String(port), LOG_LEVEL: "info" }, { port: 0, logWrite: (l) => void logs.push(l) });
      try {
        assert.equal((await fetch(`${broker.url}/metrics`)).status, 404);
        const scraped = await fetch(`http://127.0.0.1:${port}/metrics`);
        assert.equal(scraped.status, 200);
        assert.match(await scraped.text(), /oauth_token_get_total/);
        assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 404);
        assert.equal((await brokerRestAt(broker.url, stack.adminKey, "GET", "/providers")).status, 200);
        assert.ok(logs.some((l) => /"msg":"broker metrics listening".*"host":"127\.0\.0\.1"/.test(l)), logs.join(""));
      } finally {
        await broker.close();
      }
      await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), "the metrics listener closes with the Broker");
    });
  });
});
