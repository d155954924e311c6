import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Sandbox, startSandbox } from "../../src/runtime/node/sandbox/start-sandbox.ts";
import { brokerRest, deliverCallback } from "../support/broker-api.ts";
import { startStack, type TestStack } from "../support/stack.ts";

/** A minimal browser: a cookie jar, following redirects by hand, posting forms. */
function browser() {
  const jar = new Map<string, string>();
  async function go(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (jar.size > 0) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ""] = c.split(";");
      const eq = pair.indexOf("=");
      if (eq > 0) jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  }
  return { go };
}

describe("the development sandbox", () => {
  let stack: TestStack;
  let sandbox: Sandbox;
  before(async () => {
    stack = await startStack({ brokerOnly: true });
    sandbox = await startSandbox({ port: 0, brokerBaseUrl: stack.brokerEnv.BASE_URL!, broker: { url: stack.broker.url, apiKey: stack.adminKey } });
  });
  after(async () => {
    await sandbox.close();
    await stack.close();
  });

  it("registers both providers, and registering again (a restart) updates them", async () => {
    const idp = await brokerRest(stack, "GET", "/providers/by-name/sandbox");
    assert.equal(idp.body.issuer, sandbox.issuer);
    assert.equal(idp.body.enable_discovery, true);
    const api = await brokerRest(stack, "GET", "/providers/by-name/sandbox-api");
    assert.equal(api.body.auth_type, "api_key");
    const again = await startSandbox({ port: 0, brokerBaseUrl: stack.brokerEnv.BASE_URL!, broker: { url: stack.broker.url, apiKey: stack.adminKey } });
    try {
      assert.equal((await brokerRest(stack, "GET", "/providers/by-name/sandbox")).body.issuer, again.issuer);
      assert.equal((await brokerRest(stack, "GET", "/providers")).body.providers instanceof Array, true);
    } finally {
      // The restart took over the registration; make the first sandbox current again, then close the second.
      await again.close();
      await sandbox.close();
      sandbox = await startSandbox({ port: 0, brokerBaseUrl: stack.brokerEnv.BASE_URL!, broker: { url: stack.broker.url, apiKey: stack.adminKey } });
    }
  });

  it("lets a user pick a test user and consent on real pages, and the connection works", async () => {
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: "newcomer", provider_name: "sandbox", return_url: "http://localhost:8090/" });
    const b = browser();
    let res = await b.go(started.body.auth_url as string);
    let url = new URL(res.headers.get("location")!, sandbox.issuer);
    res = await b.go(url.href);
    const login = await res.text();
    assert.match(login, /<legend>Choose a test user<\/legend>/);
    assert.match(login, /<label><input type="radio" name="user" value="alice" checked>/);
    const loginAction = /action="([^"]+\/login)"/.exec(login)![1]!;
    res = await b.go(new URL(loginAction, sandbox.issuer).href, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "user=bob" });
    for (let hop = 0; hop < 5 && res.status >= 300 && res.status < 400; hop++) {
      url = new URL(res.headers.get("location")!, url);
      res = await b.go(url.href);
    }
    const consent = await res.text();
    assert.match(consent, /Signed in as <strong>Bob Example<\/strong>/);
    assert.match(consent, /<code>openid<\/code>/);
    res = await b.go(new URL(/action="([^"]+\/confirm)"/.exec(consent)![1]!, sandbox.issuer).href, { method: "POST" });
    for (let hop = 0; hop < 5; hop++) {
      url = new URL(res.headers.get("location")!, url);
      if (url.pathname === "/auth/callback") break;
      res = await b.go(url.href);
    }
    const back = await deliverCallback(stack, url);
    assert.equal(back.status, 303);
    assert.match(back.headers.get("location")!, /status=success/);
    const token = await brokerRest(stack, "GET", `/connections/${started.body.connection_id}/token`);
    const access = (token.body.credentials as Record<string, string>).access_token;
    const me = await fetch(`${sandbox.issuer}/me`, { headers: { authorization: `Bearer ${access}` } });
    assert.equal(((await me.json()) as { email: string }).email, "bob@sandbox.nexus.test");
    assert.ok((token.body.expires_at as number) - Date.now() / 1000 <= 121, "short-lived tokens");
  });

  it("accepts only its test key for the sandbox-api provider", async () => {
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: "newcomer", provider_name: "sandbox-api", return_url: "http://localhost:8090/" });
    const wrong = await brokerRest(stack, "POST", "/capture-credential", { state: started.body.state, credentials: { api_key: "sk_wrong" } });
    assert.match(wrong.body.message as string, /^credential_invalid: the provider rejected/);
    const ok = await brokerRest(stack, "POST", "/capture-credential", { state: started.body.state, credentials: { api_key: sandbox.apiKey } });
    assert.equal(ok.body.status, "active");
  });
});
