/**
 * The web app in a real browser (Debian's Chromium driven by playwright-core)
 * against a real Broker and Gateway and the development sandbox, set up as
 * `make run` sets it up: a registered agent's key prefilled, no
 * AGENT_API_KEYS. Listing providers, an OAuth consent round trip, a static key
 * captured in the app, another agent refused the connection, the protocol
 * the page speaks, CORS from other origins, and accessibility at phone
 * width. Screenshots of each step go to test-output/web-app/.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { buildWebApp } from "../../src/runtime/node/build-web-app.ts";
import { type Sandbox, startSandbox } from "../../src/runtime/node/sandbox/start-sandbox.ts";
import type { RunningService } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { freePort } from "../support/free-port.ts";
import { type RegisteredAgent, registerAgent } from "../support/agents.ts";
import { registerProvider } from "../support/broker-api.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const root = new URL("../../", import.meta.url).pathname;
const shots = new URL("../../test-output/web-app/", import.meta.url).pathname;
const run = promisify(execFile);
const chromiumArgs = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const service = "/nexus.gateway.v1.GatewayService/";

/** A page on another origin whose script calls ListProviders over gRPC-Web with fetch. */
const probePage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>CORS probe</title></head>
<body><h1>CORS probe</h1><output id="result">running…</output><script src="/probe.js"></script></body></html>`;
const probeScript = `
const out = document.getElementById("result");
const gateway = new URLSearchParams(location.search).get("gateway");
(async () => {
  try {
    const res = await fetch(gateway + "${service}ListProviders", {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: new Uint8Array([0, 0, 0, 0, 0]), // one empty message frame
    });
    const text = new TextDecoder().decode(await res.arrayBuffer());
    const grpcStatus = (/grpc-status:\\s*(\\d+)/.exec(text) || [])[1] || res.headers.get("grpc-status");
    out.textContent = JSON.stringify({ ok: true, status: res.status, grpcStatus, providers: ["sandbox", "sandbox-api"].filter((n) => text.includes(n)) });
  } catch (error) {
    out.textContent = JSON.stringify({ ok: false, error: error.name + ": " + error.message });
  }
  out.dataset.done = "1";
})();`;

function startProbeServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const js = req.url?.startsWith("/probe.js") === true;
    res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html; charset=utf-8" });
    res.end(js ? probeScript : probePage);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => {
    resolve({ server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
  }));
}

/** Controls with no label: `<label for>`, a wrapping label, aria-label or aria-labelledby. */
function unlabelledControls(page: Page): Promise<{ count: number; unlabelled: string[] }> {
  return page.evaluate(() => {
    const controls = [...document.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>("input:not([type=hidden]), select, textarea")];
    const unlabelled = controls.filter((c) => {
      const byLabel = [...(c.labels ?? [])].some((l) => (l.textContent ?? "").trim() !== "");
      return !byLabel && !c.getAttribute("aria-label") && !c.getAttribute("aria-labelledby");
    });
    return { count: controls.length, unlabelled: unlabelled.map((c) => c.id || c.name || c.outerHTML) };
  });
}

const pageWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth);
const bodyText = (page: Page) => page.evaluate(() => document.body.innerText);

describe("the web app in a browser", () => {
  let stack: TestStack;
  let gatewayService: RunningService;
  let sandbox: Sandbox;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let gateway: string;
  let webDir: string;
  let oauthConnectionId = "";
  const probes: { server: Server; origin: string }[] = [];
  // The agent is registered, and its key written to config.json, before the Gateway starts (it loads the folder once).
  let agent: RegisteredAgent;
  let agentKey = "";
  const requests: { url: string; method: string; type: string; contentType: string }[] = [];
  const consoleErrors: string[] = [];
  let shot = 0;

  async function screenshot(p: Page, step: string): Promise<void> {
    shot += 1;
    await p.screenshot({ path: join(shots, `${String(shot).padStart(2, "0")}-${step}.png`), fullPage: true });
  }

  async function waitForStatus(p: Page, status: string): Promise<void> {
    await p.locator("#connection-status", { hasText: new RegExp(`^${status}`) }).waitFor({ timeout: 15_000 });
  }

  before(async () => {
    // Screenshots of earlier runs would be mistaken for this run's.
    await rm(shots, { recursive: true, force: true });
    await mkdir(shots, { recursive: true });
    const denied = await startProbeServer();
    const allowed = await startProbeServer();
    probes.push(denied, allowed);
    const brokerPort = await freePort();
    const baseUrl = `http://127.0.0.1:${brokerPort}`;
    stack = await startStack({ brokerPort, brokerEnv: { BASE_URL: baseUrl }, brokerOnly: true });
    agent = await registerAgent(stack.broker.url, stack.adminKey, { name: "dev-agent" });
    agentKey = agent.apiKey;
    webDir = await mkdtemp(join(tmpdir(), "nexus-web-app-"));
    await buildWebApp(webDir, { config: { agentKey } });
    gatewayService = await startGateway({
      BROKER_URL: stack.broker.url, BROKER_API_KEY: stack.adminKey, GATEWAY_WEB_APP_DIR: webDir, CORS_ALLOWED_ORIGINS: allowed.origin, LOG_LEVEL: "debug",
    }, { port: 0, logWrite: (l) => void stack.logs.push(l) });
    gateway = gatewayService.url;
    sandbox = await startSandbox({ port: 0, brokerBaseUrl: baseUrl, broker: { url: stack.broker.url, apiKey: stack.adminKey } });
    // A provider registered from a template: the list shows the template's setup notes.
    await registerProvider(stack, { name: "github", template: "github", client_id: "Iv1.0123456789abcdef", client_secret: "not-a-real-secret" });
    browser = await chromium.launch({ executablePath: process.env.NEXUS_CHROMIUM ?? "/usr/bin/chromium", headless: true, args: chromiumArgs });
    context = await browser.newContext({ viewport: { width: 1024, height: 900 } });
    page = await context.newPage();
    page.on("request", (r) => {
      requests.push({ url: r.url(), method: r.method(), type: r.resourceType(), contentType: r.headers()["content-type"] ?? "" });
    });
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
  });

  after(async () => {
    await browser?.close();
    await sandbox?.close();
    await gatewayService?.close();
    await stack?.close();
    for (const p of probes) await new Promise((r) => p.server.close(r));
    if (webDir !== undefined) await rm(webDir, { recursive: true, force: true });
  });

  it("opens on the Gateway's origin, lists the providers and prefills the agent key", async () => {
    const response = await page.goto(gateway);
    assert.match(response?.headers()["content-security-policy"] ?? "", /script-src 'self'/);
    const providers = page.locator("#providers");
    await providers.getByRole("heading", { name: "sandbox", exact: true }).waitFor();
    await providers.getByRole("heading", { name: "sandbox-api", exact: true }).waitFor();
    const text = await providers.innerText();
    assert.match(text, /oauth2/);
    assert.match(text, /api_key/);
    assert.match(text, /Sandbox OpenID provider/);
    assert.equal(await page.getByRole("textbox", { name: "Agent key" }).inputValue(), agentKey, "prefilled from /config.json");
    assert.match(agentKey, /^nxa_/, "a registered agent's key");
    assert.deepEqual(await page.locator("#provider option").allInnerTexts(), ["Choose a provider…", "github (oauth2)", "sandbox (oauth2)", "sandbox-api (api_key)"]);
    await screenshot(page, "providers");
  });

  it("shows a templated provider's setup notes: where to create the app, the redirect URI, the steps", async () => {
    const item = page.locator("#providers li", { has: page.getByRole("heading", { name: "github", exact: true }) });
    assert.match(await item.innerText(), /template github/);
    await item.getByText("Setup notes: GitHub (OAuth app)").click();
    const notes = await item.locator("details").innerText();
    assert.match(notes, new RegExp(`Redirect URI to give the provider: ${stack.brokerEnv.BASE_URL}/auth/callback`));
    assert.match(notes, /Authorization callback URL/);
    assert.equal(await item.getByRole("link", { name: "Provider documentation" }).getAttribute("href"),
      "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps");
    await screenshot(page, "template-setup-notes");
  });

  it("gives every input and select a label", async () => {
    const { count, unlabelled } = await unlabelledControls(page);
    assert.ok(count >= 3, "the agent key, workspace and provider controls exist");
    assert.deepEqual(unlabelled, []);
  });

  it("connects the sandbox OpenID provider through its login and consent pages", async () => {
    await page.getByLabel("Workspace", { exact: true }).fill("newcomer");
    await page.getByLabel("Provider", { exact: true }).selectOption("sandbox");
    await page.getByRole("button", { name: "Start connection" }).click();
    await page.waitForURL((url) => url.origin === sandbox.issuer);
    await page.getByText("Choose a test user").waitFor();
    await screenshot(page, "sandbox-login");
    await page.getByText("Bob Example").click();
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("button", { name: "Allow" }).waitFor();
    await screenshot(page, "sandbox-consent");
    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL((url) => url.origin === gateway);
    await waitForStatus(page, "active");
    await page.getByRole("button", { name: "Reveal access_token" }).waitFor();
    assert.equal(new URL(page.url()).search, "", "the return query was cleaned from the address bar");

    // Focus lands on the Connection heading with the page's ordinary focus ring, which must not read as an error.
    const focus = await page.evaluate(() => {
      const e = document.activeElement as HTMLElement;
      const style = getComputedStyle(e);
      const accent = getComputedStyle(document.querySelector("#start-form button[type=submit]")!).backgroundColor;
      return { id: e.id, outlineStyle: style.outlineStyle, outlineWidth: style.outlineWidth, outlineColor: style.outlineColor, accent };
    });
    assert.deepEqual([focus.id, focus.outlineStyle, focus.outlineWidth], ["connection-title", "solid", "3px"], "a visible focus ring");
    assert.equal(focus.outlineColor, focus.accent, "the ring is the accent colour of the buttons");
    const [r, g, b] = (focus.outlineColor.match(/\d+/g) ?? []).map(Number) as [number, number, number];
    assert.ok(b > r + 60 && b > g + 60, `the ring is blue, not red or orange: ${focus.outlineColor}`);

    oauthConnectionId = await page.locator("#connection-id").innerText();
    assert.match(oauthConnectionId, /^[0-9a-f-]{36}$/);
    const res = await fetch(`${gateway}/v1/token/${oauthConnectionId}`, { headers: { authorization: `Bearer ${agentKey}` } });
    const token = ((await res.json()) as { credentials: Record<string, string> }).credentials.access_token!;
    assert.ok(token.length > 20);
    assert.ok(!(await bodyText(page)).includes(token), "the access token is not in the page text");
    assert.ok(!(await page.content()).includes(token), "nor anywhere in the DOM");
    const credential = await page.locator("#credential").innerText();
    assert.ok(credential.includes(`${token.slice(0, 4)}•••`), credential);
    assert.match(credential, /oauth2/);
    assert.match(credential, /Expires/);
    assert.match(await page.locator("#status").innerText(), /active/i);
    await screenshot(page, "oauth-active");

    // Reveal by keyboard, then hide again.
    await page.getByRole("button", { name: "Reveal access_token" }).focus();
    await page.keyboard.press("Enter");
    assert.ok((await bodyText(page)).includes(token), "revealed on Enter");
    await page.keyboard.press("Enter");
    assert.ok(!(await bodyText(page)).includes(token), "hidden again");

    // The connection id stays on screen and can be checked again.
    await page.getByRole("button", { name: "Check again" }).click();
    await waitForStatus(page, "active");
    assert.equal(await page.locator("#connection-id").innerText(), oauthConnectionId);
  });

  it("shows the curl, TypeScript and Python calls an agent makes for the active connection, with no key in them", async (t) => {
    const text = async (id: string) => page.locator(`#snippet-${id}`).innerText();
    const [curl, typescript, python] = [await text("curl"), await text("typescript"), await text("python")];
    assert.equal(curl, `curl -s -H "Authorization: Bearer $NEXUS_AGENT_KEY" \\\n  '${gateway}/v1/token/${oauthConnectionId}'`);
    assert.ok(typescript.includes('import { createNexusClient } from "@nexus-broker/client";'), typescript);
    assert.ok(typescript.includes(`baseUrl: "${gateway}",\n  apiKey: process.env.NEXUS_AGENT_KEY,`), typescript);
    assert.ok(typescript.includes(`const connectionId = "${oauthConnectionId}";\nconst credential = await nexus.getToken(connectionId);`), typescript);
    assert.ok(python.includes("from nexus_sdk import NexusClient"), python);
    assert.ok(python.includes(`NexusClient("${gateway}", os.environ["NEXUS_AGENT_KEY"])`), python);
    assert.ok(python.includes(`connection_id = "${oauthConnectionId}"\ncredential = nexus.get_token(connection_id)`), python);
    assert.ok(!(await page.content()).includes(agentKey), "the agent key is in no snippet, nor anywhere in the DOM");
    assert.match(await page.locator(".snippets").innerText(), /Set NEXUS_AGENT_KEY to the agent’s key first/);
    await page.locator(".snippets").scrollIntoViewIfNeeded();
    await screenshot(page, "oauth-snippets");

    // As pasted, with the key in the environment: curl and the TypeScript client both get the credential.
    const env = { ...process.env, NEXUS_AGENT_KEY: agentKey };
    const fromCurl = await run("bash", ["-c", curl], { env });
    assert.match(fromCurl.stdout, /"strategy":\{"type":"oauth2"/);
    const dir = join(root, "test-output", "web-app-snippets");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "agent.ts"), typescript);
    const fromTypeScript = await run(process.execPath, ["--import", "tsx", join(dir, "agent.ts")], { cwd: root, env });
    assert.equal(fromTypeScript.stdout, "oauth2 [ 'access_token', 'token_type', 'scope' ]\n");
    // The Python SDK lives in sdk/python when this repository has it, and needs python3.
    const sdk = join(root, "sdk", "python");
    const python3 = await run("python3", ["--version"]).then(() => true, () => false);
    if (existsSync(join(sdk, "nexus_sdk")) && python3) {
      const fromPython = await run("python3", ["-c", python], { env: { ...env, PYTHONPATH: sdk } });
      assert.equal(fromPython.stdout, "oauth2 ['access_token', 'token_type', 'scope']\n");
    } else {
      t.diagnostic("the Python snippet was checked as text only: no sdk/python here, or no python3");
    }
  });

  it("refuses the connection to another registered agent's key, and says why", async () => {
    const other = await registerAgent(stack.broker.url, stack.adminKey, { name: "other-agent" });
    const keyBox = page.getByRole("textbox", { name: "Agent key" });
    await keyBox.fill(other.apiKey);
    await page.getByRole("button", { name: "Check again" }).click();
    const alert = page.getByRole("alert");
    await alert.filter({ hasText: "agent_not_authorized" }).waitFor();
    assert.match(await alert.innerText(), /Reason: agent_not_authorized[\s\S]*Another agent started this connection/);
    assert.ok(!(await page.locator("#credential").innerText()).includes("access_token"), "no credential for the other agent");
    await waitForStatus(page, "not checked");
    await screenshot(page, "other-agent");
    await keyBox.fill(agentKey);
    await page.getByRole("button", { name: "Check again" }).click();
    await waitForStatus(page, "active");
  });

  it("captures a static key in a form rendered from the provider's schema", async () => {
    await page.getByLabel("Provider", { exact: true }).selectOption("sandbox-api");
    await page.getByRole("button", { name: "Start connection" }).click();
    const key = page.getByLabel("Sandbox API key");
    await key.waitFor();
    assert.equal(await key.getAttribute("type"), "password");
    assert.equal(await key.getAttribute("required"), "");
    assert.equal(await key.evaluate((e) => document.getElementById(e.getAttribute("aria-describedby") ?? "")?.textContent), "Try sk_sandbox_demo");
    assert.ok(await key.evaluate((e) => e === document.activeElement), "focus moved into the form");
    assert.deepEqual((await unlabelledControls(page)).unlabelled, []);
    await screenshot(page, "capture-form");

    // Past the browser's own check, the Broker names the field (google.rpc.BadRequest): the app marks that control.
    await key.evaluate((e) => e.removeAttribute("required"));
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    const alert = page.getByRole("alert");
    await alert.filter({ hasText: "api_key is required" }).waitFor();
    assert.equal(await key.getAttribute("aria-invalid"), "true");
    assert.ok(await key.evaluate((e) => e === document.activeElement), "focus on the field at fault");

    await key.fill("sk_wrong_key_1234");
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await alert.filter({ hasText: "the provider rejected" }).waitFor();
    assert.match(await alert.innerText(), /Reason: credential_invalid/);
    assert.equal(await key.getAttribute("aria-invalid"), null, "the provider refused the credential as a whole: no field is marked");
    assert.ok(await page.locator("#capture").isVisible(), "the form stays");
    assert.equal(await key.inputValue(), "sk_wrong_key_1234");
    await screenshot(page, "capture-error");

    await key.fill(sandbox.apiKey);
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await waitForStatus(page, "active");
    await page.getByRole("button", { name: "Reveal api_key" }).waitFor();
    const credential = await page.locator("#credential").innerText();
    assert.ok(credential.includes("sk_s•••"), credential);
    assert.ok(!credential.includes(sandbox.apiKey), "the key is masked");
    assert.match(credential, /header/);
    assert.ok(await page.locator("#capture").isHidden());
    assert.ok(await alert.isHidden(), "the earlier error is gone");
    assert.notEqual(await page.locator("#connection-id").innerText(), oauthConnectionId);
    await screenshot(page, "capture-active");
  });

  it("makes every API call with gRPC-Web to the Gateway's own origin, and breaks no CSP rule", () => {
    const calls = requests.filter((r) => (r.type === "fetch" || r.type === "xhr") && !r.url.endsWith("/config.json"));
    const methods = new Set(calls.map((r) => new URL(r.url).pathname.slice(service.length)));
    for (const m of ["ListProviders", "RequestConnection", "CheckConnection", "GetToken", "GetCaptureSchema", "CaptureCredential"]) {
      assert.ok(methods.has(m), `the page called ${m}: ${[...methods].join(", ")}`);
    }
    for (const call of calls) {
      const url = new URL(call.url);
      assert.equal(url.origin, gateway, call.url);
      assert.ok(url.pathname.startsWith(service), call.url);
      assert.equal(call.method, "POST");
      assert.equal(call.contentType, "application/grpc-web+proto", call.url);
    }
    assert.ok(!requests.some((r) => new URL(r.url).origin === gateway && new URL(r.url).pathname.startsWith("/v1/")), "no REST");
    assert.deepEqual(consoleErrors.filter((e) => /Content.Security.Policy|Refused to/i.test(e)), []);
  });

  it("refuses gRPC-Web calls from origins outside CORS_ALLOWED_ORIGINS and serves listed ones", async () => {
    const denied = probes[0]!;
    const allowed = probes[1]!;
    const probe = await context.newPage();
    const result = async (origin: string) => {
      await probe.goto(`${origin}/?gateway=${encodeURIComponent(gateway)}`);
      await probe.locator("#result[data-done]").waitFor();
      return JSON.parse(await probe.locator("#result").innerText()) as { ok: boolean; error?: string; status?: number; grpcStatus?: string; providers?: string[] };
    };
    const refused = await result(denied.origin);
    await screenshot(probe, "cors-denied");
    assert.equal(refused.ok, false, JSON.stringify(refused));
    assert.match(refused.error ?? "", /^TypeError/);
    const served = await result(allowed.origin);
    await screenshot(probe, "cors-allowed");
    assert.deepEqual(served, { ok: true, status: 200, grpcStatus: "0", providers: ["sandbox", "sandbox-api"] });
    await probe.close();
  });

  it("works at 360 px wide, by keyboard alone", async () => {
    const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, hasTouch: true, isMobile: true });
    try {
      const p = await phone.newPage();
      await p.goto(gateway);
      await p.locator("#providers").getByRole("heading", { name: "sandbox-api", exact: true }).waitFor();
      await p.getByText("Setup notes: GitHub (OAuth app)").click();
      assert.ok(await pageWidth(p) <= 360, `no horizontal scroll, setup notes open: ${await pageWidth(p)}`);
      await screenshot(p, "phone-start");

      // Keyboard only: type into the focused field, pick with the arrow keys, Tab to the button, Enter.
      await p.locator("#workspace").focus();
      await p.keyboard.type("phone");
      await p.keyboard.press("Tab");
      // github (from a template), sandbox, sandbox-api.
      for (let i = 0; i < 3; i++) await p.keyboard.press("ArrowDown");
      assert.equal(await p.locator("#provider").inputValue(), "sandbox-api");
      await p.keyboard.press("Tab");
      const focused = await p.evaluate(() => {
        const e = document.activeElement as HTMLElement;
        return { text: e.textContent, outline: getComputedStyle(e).outlineStyle };
      });
      assert.deepEqual(focused, { text: "Start connection", outline: "solid" }, "the focused button shows a focus ring");
      await p.keyboard.press("Enter");
      await p.getByLabel("Sandbox API key").waitFor();
      assert.ok(await p.getByLabel("Sandbox API key").evaluate((e) => e === document.activeElement));
      await p.keyboard.type(sandbox.apiKey);
      await p.keyboard.press("Enter");
      await waitForStatus(p, "active");
      await p.getByRole("button", { name: "Reveal api_key" }).waitFor();
      assert.ok(await pageWidth(p) <= 360, `no horizontal scroll: ${await pageWidth(p)}`);
      await screenshot(p, "phone-credential");

      // Coming back from consent with a long token, and with an error.
      await p.goto(`${gateway}/?status=success&connection_id=${oauthConnectionId}`);
      await waitForStatus(p, "active");
      await p.getByRole("button", { name: "Reveal access_token" }).click();
      assert.ok(await pageWidth(p) <= 360, `a revealed token wraps: ${await pageWidth(p)}`);
      await screenshot(p, "phone-return-success");

      await p.goto(`${gateway}/?status=error&error=access_denied&connection_id=${oauthConnectionId}`);
      const alert = p.getByRole("alert");
      await alert.filter({ hasText: "access_denied" }).waitFor();
      assert.match(await alert.innerText(), /not completed[\s\S]*Reason: access_denied/);
      assert.ok(await pageWidth(p) <= 360);
      await screenshot(p, "phone-return-error");
      await alert.getByRole("button", { name: "Start again" }).click();
      assert.ok(await alert.isHidden());
      assert.ok(await p.locator("#workspace").evaluate((e) => e === document.activeElement), "focus is back on the start form");
      assert.equal(await p.locator("#workspace").inputValue(), "phone");
    } finally {
      await phone.close();
    }
  });
});
