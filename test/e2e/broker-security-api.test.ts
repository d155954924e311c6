/**
 * Bad input at the Broker's API and at rest (security.md §5): return_url at
 * StartConnection (C-30…C-37), API keys (C-44), hostile ids and NUL
 * characters (C-47, C-48), what GetToken hands out (C-52), and tampered
 * vault rows (C-53…C-55), all through the real REST surface and database.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startBroker } from "../../src/runtime/node/start-broker.ts";
import { registerProvider } from "../support/broker-api.ts";
import type { FakeProvider } from "../support/fake-provider.ts";
import { type SecurityHarness, startFakeProvider, startSecurityHarness } from "../support/security-harness.ts";

describe("Broker security: API surface and vault (C-30…C-37, C-44, C-47, C-48, C-52…C-55)", () => {
  let h: SecurityHarness;
  let fake: FakeProvider;
  const provider = "sec-api";
  const staticProvider = "sec-static";
  const apiKey = `sk_live_CANARY_AK_${crypto.randomUUID()}`;

  before(async () => {
    h = await startSecurityHarness();
    fake = await startFakeProvider();
    await h.registerFake(provider, fake);
    await registerProvider(h.stack, { name: staticProvider, auth_type: "api_key" });
    h.remember(apiKey);
  });
  after(async () => {
    await h.close();
    await fake.close();
  });

  const tables = ["connections", "credentials", "handshakes", "providers"] as const;
  const counts = async () => Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await h.count(t)] as const)));

  /** StartConnection refuses `url` with return_url_rejected and writes nothing. */
  async function expectReturnUrlRejected(...urls: string[]): Promise<void> {
    for (const url of urls) {
      const before = await counts();
      const r = await h.rest("POST", "/connections", { workspace_id: "ws-return", provider_name: provider, return_url: url });
      assert.equal(r.status, 400, `${JSON.stringify(url)} was accepted: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, "invalid_argument");
      assert.match(r.body.message as string, /^return_url_rejected: /, JSON.stringify(url));
      assert.deepEqual(await counts(), before, `${JSON.stringify(url)} left a row behind`);
    }
  }

  it("C-30 return_url https://evil.example is return_url_rejected with no row (https://app.example.com/ok is accepted)", async () => {
    await expectReturnUrlRejected("https://evil.example", "https://evil.example/done");
    const ok = await h.rest("POST", "/connections", { workspace_id: "ws-return", provider_name: provider, return_url: "https://app.example.com/ok" });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  it("C-31 return_url //evil.example/x (scheme-relative) is rejected", async () => {
    await expectReturnUrlRejected("//evil.example/x", "///evil.example/x");
  });

  it("C-32 return_url /\\evil.example and https:/\\evil.example (backslash tricks) are rejected", async () => {
    await expectReturnUrlRejected("/\\evil.example", "https:/\\evil.example", "https:\\\\evil.example", "https://app.example.com\\@evil.example/");
  });

  it("C-33 return_url /%09/evil.example and /<TAB>/evil.example are rejected", async () => {
    await expectReturnUrlRejected("/%09/evil.example", "/\t/evil.example", "https://app.example.com\t.evil.example/", "https://app.example.com\n/");
  });

  it("C-34 return_url https://app.example.com@evil.example/ (userinfo) is rejected", async () => {
    await expectReturnUrlRejected("https://app.example.com@evil.example/", "https://user:pass@app.example.com/");
  });

  it("C-35 return_url https://app.example.com.evil.example/ is rejected (exact host, not a prefix)", async () => {
    await expectReturnUrlRejected("https://app.example.com.evil.example/", "https://evilapp.example.com/", "https://app.example.co/");
  });

  it("C-36 return_url javascript: and data: are rejected", async () => {
    await expectReturnUrlRejected("javascript:alert(1)", "JavaScript://app.example.com/%0aalert(1)", "data:text/html,<script>alert(1)</script>");
  });

  it("C-37 return_url http://app.example.com/ (downgrade to http) is rejected; http only for loopback", async () => {
    await expectReturnUrlRejected("http://app.example.com/", "ftp://app.example.com/");
    const dev = await h.rest("POST", "/connections", { workspace_id: "ws-return", provider_name: provider, return_url: "http://localhost:3000/cb" });
    assert.equal(dev.status, 200, JSON.stringify(dev.body));
  });

  it("C-44 a missing, empty, 1-byte, 8000-byte, same-length-but-wrong or Basic API key is unauthenticated (401), a 10 KB one 431, never 500", async () => {
    const key = h.stack.adminKey;
    const last = key.slice(0, -1) + (key.endsWith("A") ? "B" : "A");
    const first = (key.startsWith("A") ? "B" : "A") + key.slice(1);
    const cases: [string, Record<string, string>][] = [
      ["missing", {}],
      ["empty X-API-Key", { "x-api-key": "" }],
      ["empty Bearer", { authorization: "Bearer " }],
      ["1 byte", { "x-api-key": "k" }],
      ["1 byte Bearer", { authorization: "Bearer k" }],
      ["8000 bytes", { "x-api-key": "k".repeat(8000) }],
      ["8000 bytes Bearer", { authorization: `Bearer ${"k".repeat(8000)}` }],
      ["right length, last byte wrong", { "x-api-key": last }],
      ["right length, first byte wrong", { authorization: `Bearer ${first}` }],
      ["Basic with the key", { authorization: `Basic ${Buffer.from(key).toString("base64")}` }],
      ["Basic user:key", { authorization: `Basic ${Buffer.from(`admin:${key}`).toString("base64")}` }],
      ["the key without a scheme", { authorization: key }],
    ];
    for (const path of ["/providers", `/connections/${crypto.randomUUID()}/token`]) {
      for (const [name, headers] of cases) {
        const res = await fetch(`${h.stack.broker.url}${path}`, { headers });
        const body = (await res.json()) as { code: string; message: string };
        assert.equal(res.status, 401, `${name} on ${path}: ${res.status} ${JSON.stringify(body)}`);
        assert.equal(body.code, "unauthenticated", name);
        assert.ok(!body.message.includes(key.slice(6)), "the key is echoed");
      }
      const huge = await fetch(`${h.stack.broker.url}${path}`, { headers: { "x-api-key": "k".repeat(10 * 1024) } });
      assert.equal(huge.status, 431, `10 KB key: ${huge.status}`);
      assert.equal(((await huge.json()) as { code: string }).code, "resource_exhausted");
    }
    // The right key, either way, is let in: the refusals above are about the key.
    assert.equal((await fetch(`${h.stack.broker.url}/providers`, { headers: { "x-api-key": key } })).status, 200);
    assert.equal((await fetch(`${h.stack.broker.url}/providers`, { headers: { authorization: `Bearer ${key}` } })).status, 200);
  });

  it("C-47 SQL and oversized unicode as connection_id or query values are invalid_argument / not found, and every table is intact", async () => {
    const id = await h.connect(fake, provider);
    const before = await counts();
    const hostile = ["' OR '1'='1", "1; DROP TABLE connections;--", "é€😀".repeat(456)];
    assert.ok(new TextEncoder().encode(hostile[2]!).length >= 4096);
    for (const value of hostile) {
      const p = encodeURIComponent(value);
      for (const [method, path] of [["GET", `/connections/${p}/token`], ["GET", `/connections/${p}`], ["POST", `/connections/${p}/refresh`], ["DELETE", `/connections/${p}`]] as const) {
        const r = await h.rest(method, path);
        assert.equal(r.status, 400, `${method} ${value.slice(0, 30)}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        assert.equal(r.body.code, "invalid_argument");
      }
      // As a filter, the injection must match nothing rather than everything (or be refused as input).
      const listed = await h.rest("GET", `/connections?workspace_id=${p}`);
      if (listed.status === 200) assert.deepEqual(listed.body.connections ?? [], [], "the filter matched rows");
      else assert.equal(listed.body.code, "invalid_argument", `${listed.status} ${JSON.stringify(listed.body).slice(0, 200)}`);
      const resolved = await h.rest("GET", `/resolve?workspace_id=ws-sec&provider_name=${p}`);
      assert.ok([400, 404].includes(resolved.status), `resolve: ${resolved.status}`);
      assert.ok(["invalid_argument", "not_found"].includes(resolved.body.code as string));
    }
    assert.deepEqual(await counts(), before, "row counts changed");
    assert.equal((await h.rest("GET", `/connections/${id}/token`)).status, 200, "the schema and data are intact");
  });

  it("C-48 a workspace_id containing \\u0000 is invalid_argument (400), not internal", async () => {
    const before = await counts();
    const start = await h.rest("POST", "/connections", { workspace_id: "ws\u0000x", provider_name: provider, return_url: "https://app.example.com/" });
    assert.equal(start.status, 400, JSON.stringify(start.body));
    assert.equal(start.body.code, "invalid_argument");
    for (const path of ["/connections?workspace_id=ws%00x", "/resolve?workspace_id=ws%00x&provider_name=sec-api"]) {
      const r = await h.rest("GET", path);
      assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, "invalid_argument");
    }
    assert.deepEqual(await counts(), before);
  });

  it("C-48 other text fields containing \\u0000 (provider_name, capture fields) are invalid_argument or not_found, never internal", async () => {
    const probes: [string, string, unknown][] = [
      ["POST", "/connections", { workspace_id: "ws", provider_name: "sec\u0000api", return_url: "https://app.example.com/" }],
      ["GET", "/resolve?workspace_id=ws&provider_name=sec%00api", undefined],
      ["GET", "/providers/by-name/sec%00api", undefined],
      ["GET", "/connections?provider_name=sec%00api", undefined],
    ];
    const statuses: string[] = [];
    for (const [method, path, body] of probes) {
      const r = await h.rest(method, path, body);
      statuses.push(`${method} ${path}: ${r.status} ${r.body.code}`);
    }
    const started = await h.start(staticProvider);
    const capture = await h.rest("POST", "/capture-credential", { state: started.state, credentials: { api_key: "sk\u0000x" } });
    statuses.push(`capture: ${capture.status} ${capture.body.code}`);
    for (const s of statuses) assert.doesNotMatch(s, /: 500 |internal/, statuses.join("\n"));
  });

  it("C-52 GetToken of an OAuth connection carries no refresh_token anywhere; of an API-key connection, the key", async () => {
    const id = await h.connect(fake, provider);
    const row = await h.credentialRow(id);
    const rt = h.vault.openText(row!.refreshCt!, { table: "credentials", rowId: id, field: "refresh_token" });
    const answers = [
      await h.rest("GET", `/connections/${id}/token`),
      await h.rest("POST", `/connections/${id}/refresh`),
      await h.rest("GET", `/resolve?workspace_id=ws-sec&provider_name=${provider}`),
    ];
    for (const a of answers) {
      assert.equal(a.status, 200, JSON.stringify(a.body));
      const text = JSON.stringify(a.body);
      assert.doesNotMatch(text, /refresh_?token|refreshToken/i);
      assert.ok(!text.includes(rt) && !text.includes(fake.clientSecret));
      assert.deepEqual(a.body.strategy, { type: "oauth2", config: {} });
      for (const k of Object.keys(a.body.credentials as object)) assert.ok(["access_token", "token_type", "scope"].includes(k), k);
    }
    const s = await h.start(staticProvider);
    const captured = await h.rest("POST", "/capture-credential", { state: s.state, credentials: { api_key: apiKey } });
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    const token = await h.rest("GET", `/connections/${s.id}/token`);
    assert.equal(token.status, 200);
    assert.deepEqual(token.body.credentials, { api_key: apiKey });
    const rows = JSON.stringify(await h.stack.db.sql`select * from credentials`, (_k, v) => (typeof v === "bigint" ? String(v) : v));
    assert.ok(!rows.includes(apiKey), "the key is stored encrypted");
  });

  /**
   * GetToken fails as an internal fault: 500, code internal, a generic message with no bytes and no SQL, and
   * `reason` logged for this connection. The exact wire message is checked by the test after C-55.
   */
  async function expectInternal(id: string, reason: string, ciphertext: string): Promise<Record<string, unknown>> {
    const logsBefore = h.stack.logs.length;
    const r = await h.rest("GET", `/connections/${id}/token`);
    assert.equal(r.status, 500, JSON.stringify(r.body));
    assert.equal(r.body.code, "internal");
    assert.match(r.body.message as string, /^[a-z_]+: an internal error occurred$/, `the caller learns nothing: ${JSON.stringify(r.body)}`);
    const text = JSON.stringify(r.body);
    assert.doesNotMatch(text, /select|credentials|secret_ct|nx1\./i);
    const logged = h.stack.logs.slice(logsBefore).join("");
    assert.match(logged, new RegExp(reason), "the log names the reason");
    assert.match(logged, new RegExp(id), "the log names the connection");
    for (const part of ciphertext.split(".").slice(2)) assert.ok(!logged.includes(part), "ciphertext bytes are logged");
    return r.body;
  }

  it("C-53 a credential whose GCM tag is cut to 12 bytes: GetToken is internal (500), decrypt_failed logged with no bytes", async () => {
    const id = await h.connect(fake, provider);
    const ct = (await h.credentialRow(id))!.secretCt;
    const [v, kid, nonce, body] = ct.split(".") as [string, string, string, string];
    const bytes = Buffer.from(body, "base64url");
    const truncated = `${v}.${kid}.${nonce}.${bytes.subarray(0, bytes.length - 4).toString("base64url")}`;
    await h.stack.db.sql`update credentials set secret_ct = ${truncated} where connection_id = ${id}`;
    await expectInternal(id, "decrypt_failed", truncated);
    assert.equal((await h.connection(id)).status, "active", "a vault fault does not rewrite the connection");
  });

  it("C-54 connection A's ciphertext copied into B's row does not open (AAD): B is internal, A still works", async () => {
    const a = await h.connect(fake, provider);
    const b = await h.connect(fake, provider);
    const aCt = (await h.credentialRow(a))!.secretCt;
    await h.stack.db.sql`update credentials set secret_ct = ${aCt} where connection_id = ${b}`;
    await expectInternal(b, "decrypt_failed", aCt);
    const tokenA = await h.rest("GET", `/connections/${a}/token`);
    assert.equal(tokenA.status, 200, JSON.stringify(tokenA.body));
  });

  it("C-55 a ciphertext under an unloaded key id: internal key_unknown at runtime, and a Broker refuses to start naming the key id", async () => {
    const id = await h.connect(fake, provider);
    const ct = (await h.credentialRow(id))!.secretCt;
    const [v, , nonce, body] = ct.split(".") as [string, string, string, string];
    const foreign = `${v}.k9.${nonce}.${body}`;
    await h.stack.db.sql`update credentials set secret_ct = ${foreign} where connection_id = ${id}`;
    await expectInternal(id, "key_unknown", foreign);

    await h.stack.db.sql`update credentials set key_id = 'k9' where connection_id = ${id}`;
    const lines: string[] = [];
    let second: Awaited<ReturnType<typeof startBroker>> | undefined;
    try {
      second = await startBroker({ ...h.stack.brokerEnv, DATABASE_URL: h.stack.db.url }, { port: 0, logWrite: (l) => void lines.push(l) });
    } catch (error) {
      assert.match(String((error as Error).message), /"k9"/, String(error));
    } finally {
      await second?.close();
      await h.stack.db.sql`update credentials set key_id = 'primary', secret_ct = ${ct} where connection_id = ${id}`;
    }
    assert.equal(second, undefined, "a Broker started with a row sealed under an unloaded key");
    assert.equal((await h.rest("GET", `/connections/${id}/token`)).status, 200, "the running Broker is unaffected");
  });

  it("C-53…C-55 a vault fault answers exactly \"internal: an internal error occurred\", naming neither decrypt_failed nor key_unknown", async () => {
    const id = await h.connect(fake, provider);
    const ct = (await h.credentialRow(id))!.secretCt;
    const [v, kid, nonce, body] = ct.split(".") as [string, string, string, string];
    const bytes = Buffer.from(body, "base64url");
    const answers: Record<string, unknown>[] = [];
    for (const bad of [`${v}.${kid}.${nonce}.${bytes.subarray(0, bytes.length - 4).toString("base64url")}`, `${v}.k9.${nonce}.${body}`]) {
      await h.stack.db.sql`update credentials set secret_ct = ${bad} where connection_id = ${id}`;
      answers.push(await expectInternal(id, bad.includes(".k9.") ? "key_unknown" : "decrypt_failed", bad));
    }
    await h.stack.db.sql`update credentials set secret_ct = ${ct} where connection_id = ${id}`;
    for (const a of answers) {
      assert.equal(a.message, "internal: an internal error occurred", JSON.stringify(a));
      assert.doesNotMatch(JSON.stringify(a), /decrypt_failed|key_unknown/);
    }
  });

  it("C-50 canary (API and vault): no token, key, code or client secret in logs, rows, audit, metrics or answers", async () => {
    await h.canary([fake], 20);
  });
});
