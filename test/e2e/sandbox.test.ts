import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Sandbox, startSandbox } from "../../src/runtime/node/sandbox/start-sandbox.ts";
import { brokerRest, deliverCallback } from "../support/broker-api.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { until } from "../support/until.ts";

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

  /** Starts a sandbox connection and goes through its login (as `user`) and consent pages; returns the connection id. */
  async function connectThroughPages(user: string, check: { login?: (html: string) => void; consent?: (html: string) => void } = {}): Promise<string> {
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: "newcomer", provider_name: "sandbox", return_url: "http://localhost:8090/" });
    const b = browser();
    let res = await b.go(started.body.auth_url as string);
    let url = new URL(res.headers.get("location")!, sandbox.issuer);
    res = await b.go(url.href);
    const login = await res.text();
    check.login?.(login);
    const loginAction = /action="([^"]+\/login)"/.exec(login)![1]!;
    res = await b.go(new URL(loginAction, sandbox.issuer).href, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `user=${user}` });
    for (let hop = 0; hop < 5 && res.status >= 300 && res.status < 400; hop++) {
      url = new URL(res.headers.get("location")!, url);
      res = await b.go(url.href);
    }
    const consent = await res.text();
    check.consent?.(consent);
    res = await b.go(new URL(/action="([^"]+\/confirm)"/.exec(consent)![1]!, sandbox.issuer).href, { method: "POST" });
    for (let hop = 0; hop < 5; hop++) {
      url = new URL(res.headers.get("location")!, url);
      if (url.pathname === "/auth/callback") break;
      res = await b.go(url.href);
    }
    const back = await deliverCallback(stack, url);
    assert.equal(back.status, 303);
    assert.match(back.headers.get("location")!, /status=success/);
    return started.body.connection_id as string;
  }

  /** The sandbox user an access token belongs to, by its userinfo. */
  async function emailOf(access: string, issuer = sandbox.issuer): Promise<string> {
    const me = await fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${access}` } });
    return ((await me.json()) as { email: string }).email;
  }

  it("lets a user pick a test user and consent on real pages, and the connection works", async () => {
    const id = await connectThroughPages("bob", {
      login: (html) => {
        assert.match(html, /<legend>Choose a test user<\/legend>/);
        assert.match(html, /<label><input type="radio" name="user" value="alice" checked>/);
      },
      consent: (html) => {
        assert.match(html, /Signed in as <strong>Bob Example<\/strong>/);
        assert.match(html, /<code>openid<\/code>/);
      },
    });
    const token = await brokerRest(stack, "GET", `/connections/${id}/token`);
    assert.equal(await emailOf((token.body.credentials as Record<string, string>).access_token!), "bob@sandbox.nexus.test");
    assert.ok((token.body.expires_at as number) - Date.now() / 1000 <= 121, "short-lived tokens");
  });

  /**
   * A forced refresh once it reaches the current sandbox: a restarted sandbox has a new port, and the Broker
   * reads a provider's row for refreshes at most every 5 s, so until then it may still call the closed one.
   */
  function refreshReaching(id: string) {
    return until("a refresh that reaches the current sandbox", async () => {
      const r = await brokerRest(stack, "POST", `/connections/${id}/refresh`);
      return /\(network_error\)/.test(r.body.message as string) ? undefined : r;
    }, 30_000, 500);
  }

  it("keeps its grants in its state file: after a restart the refresh token it issued still refreshes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "nexus-sandbox-"));
    const stateFile = join(dir, "sandbox.json");
    const start = (file?: string) => startSandbox({ port: 0, brokerBaseUrl: stack.brokerEnv.BASE_URL!, broker: { url: stack.broker.url, apiKey: stack.adminKey }, ...(file ? { stateFile: file } : {}) });
    try {
      await sandbox.close();
      sandbox = await start(stateFile);
      const id = await connectThroughPages("alice");
      await sandbox.close();
      assert.equal((statSync(stateFile).mode & 0o777).toString(8), "600", "live tokens: the owner's alone");

      sandbox = await start(stateFile);
      const refreshed = await refreshReaching(id);
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.equal(await emailOf((refreshed.body.credentials as Record<string, string>).access_token!), "alice@sandbox.nexus.test");
      assert.equal((await brokerRest(stack, "GET", `/connections/${id}`)).body.status, "active");

      // Without the file, as before: the new provider knows no grant, and the connection needs the user again.
      await sandbox.close();
      sandbox = await start();
      const lost = await refreshReaching(id);
      assert.match(lost.body.message as string, /^attention_required: /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("accepts only its test key for the sandbox-api provider", async () => {
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: "newcomer", provider_name: "sandbox-api", return_url: "http://localhost:8090/" });
    const wrong = await brokerRest(stack, "POST", "/capture-credential", { state: started.body.state, credentials: { api_key: "sk_wrong" } });
    assert.match(wrong.body.message as string, /^credential_invalid: the provider rejected/);
    const ok = await brokerRest(stack, "POST", "/capture-credential", { state: started.body.state, credentials: { api_key: sandbox.apiKey } });
    assert.equal(ok.body.status, "active");
  });
});
