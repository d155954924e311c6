/**
 * `nexus plan`, `apply` and `export` against a real Broker (issue 18):
 * providers and agents kept as a manifest, reviewed as a plan and applied,
 * with every secret kept out of every output. Runs the command in process
 * through runCli with a recording CliIo, and once as the real `node
 * bin/nexus.mjs` in a child process.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type BrokerAdmin, createBrokerAdmin } from "../../src/cli/broker-admin.ts";
import type { CliIo } from "../../src/cli/cli-io.ts";
import { runCli } from "../../src/cli/run-cli.ts";
import { agentKeyPair } from "../support/agents.ts";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const root = new URL("../../", import.meta.url).pathname;
const secret = (label: string) => `${label}-${randomBytes(16).toString("hex")}`;

/** One run of the command: its exit code and what it wrote. */
interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe("nexus plan / apply / export against a real Broker", () => {
  let stack: TestStack;
  let idp: FakeProvider;
  let admin: BrokerAdmin;
  let dir: string;
  let env: Record<string, string>;
  /** Every secret the test uses, and everything the command printed: scanned at the end. */
  const secrets: string[] = [];
  const transcript: string[] = [];
  const crmSecret = secret("crm-secret");
  const crmSecretRotated = secret("crm-rotated");
  let jwk: Record<string, unknown>;

  /** Runs `nexus ...args` in process; `io` overrides parts of the recording CliIo. */
  async function nexus(args: string[], io: Partial<CliIo> = {}): Promise<Run> {
    let stdout = "";
    let stderr = "";
    const code = await runCli(args, {
      stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t),
      env, interactive: false, color: false,
      readFile: (path) => readFile(path, "utf8"),
      confirm: async () => assert.fail("apply asked without a terminal"),
      now: Date.now, sleep: async () => {}, interrupted: new AbortController().signal, fetch: globalThis.fetch,
      ...io,
    });
    transcript.push(stdout, stderr);
    return { code, stdout, stderr };
  }
  /** Writes a manifest into the temp folder and returns its path. */
  async function manifest(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }
  /** The Broker's providers and agents with their versions: equal before and after means nothing changed. */
  async function brokerState(): Promise<string> {
    const [p, a] = await Promise.all([admin.providers.listProviders({}), admin.agents.listAgents({})]);
    return JSON.stringify({
      providers: p.providers.map((x) => `${x.name}@${x.version}`).sort(),
      agents: a.agents.map((x) => `${x.name}@${x.version}${x.disabled ? " disabled" : ""}`).sort(),
    });
  }
  const providerNamed = async (name: string) => (await admin.providers.getProviderByName({ name })).provider!;
  const baseManifest = (extra = "") => `# Providers and agents of the test deployment
version: 1
providers:
  - name: crm
    auth_type: oauth2
    client_id: crm-client
    client_secret: \${env:CRM_SECRET}
    auth_url: https://crm.example.com/oauth/authorize
    token_url: https://crm.example.com/oauth/token
    scopes: [contacts.read, contacts.write]
    params:
      authorize_params: { prompt: consent }
    description: The CRM
  - name: idp
    auth_type: oauth2
    client_id: ${idp.clientId}
    client_secret: \${file:secrets/idp.secret}
    issuer: ${idp.issuer}
    enable_discovery: true
    scopes: [openid, email]
  - name: weather
    auth_type: api_key
    api_base_url: https://api.weather.example
    description: Weather API
${extra}agents:
  - name: mail-bot
    description: Reads mail
    allowed_providers: [crm, idp]
  - name: report-bot
    jwks: ${JSON.stringify({ keys: [jwk] })}
`;
  let main: string;

  before(async () => {
    stack = await startStack({ brokerOnly: true });
    idp = await startFakeProvider();
    admin = createBrokerAdmin({ url: stack.broker.url, adminKey: stack.adminKey, fetch: globalThis.fetch });
    dir = await mkdtemp(join(tmpdir(), "nexus-cli-"));
    await mkdir(join(dir, "secrets"));
    await writeFile(join(dir, "secrets", "idp.secret"), `${idp.clientSecret}\n`);
    jwk = (await agentKeyPair("EdDSA", "report-1")).publicJwk as Record<string, unknown>;
    env = { NEXUS_BROKER_URL: stack.broker.url, NEXUS_ADMIN_KEY: stack.adminKey, CRM_SECRET: crmSecret };
    secrets.push(stack.adminKey, crmSecret, crmSecretRotated, idp.clientSecret);
    main = await manifest("nexus.yaml", baseManifest());
  });
  after(async () => {
    await stack.close();
    await idp.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("apply creates two OAuth providers (one by issuer), a static provider and two agents, and prints only the new keys on stdout", async () => {
    const run = await nexus(["apply", "-f", main, "--yes"]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split("\n").filter((l) => l !== "");
    assert.deepEqual(lines.map((l) => l.split(" ")[0]), ["mail-bot", "report-bot"]);
    for (const line of lines) assert.match(line, /^[a-z-]+ nxa_[0-9A-Za-z]+$/);
    assert.match(run.stderr, /\+ create provider crm\n {6}\+ auth_type: "oauth2"/);
    assert.match(run.stderr, /client_secret set \(write-only; value not shown\)/);
    assert.match(run.stderr, /Applied: 5 created, 0 updated, 0 deleted/);
    assert.deepEqual(JSON.parse(await brokerState()).providers.map((p: string) => p.split("@")[0]), ["crm", "idp", "weather"]);
    assert.equal((await providerNamed("idp")).issuer, idp.issuer);
    const hash = /Plan hash: ([0-9a-f]{64})/.exec(run.stderr)![1];
    const events = await admin.audit.listAuditEvents({ eventType: "manifest.applied" });
    assert.deepEqual(events.events.map((e) => e.details), [{ plan_hash: hash, created: 5, updated: 0, deleted: 0 }], "one audit event per apply");
  });

  it("plan after apply: exit 0, no changes (text and --json)", async () => {
    const text = await nexus(["plan", "-f", main]);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.equal(text.stdout, `No changes: the Broker at ${stack.broker.url} matches ${main}.\n`);
    const json = await nexus(["plan", "-f", main, "--json"]);
    assert.equal(json.code, 0);
    const parsed = JSON.parse(json.stdout);
    assert.deepEqual({ ...parsed, plan_hash: "" }, { changes: [], orphans: [], summary: { create: 0, update: 0, delete: 0 }, plan_hash: "" });
    assert.match(parsed.plan_hash, /^[0-9a-f]{64}$/);
  });

  it("a changed secret: exit 2 and \"client_secret changed\", never the value; apply rotates it", async () => {
    env.CRM_SECRET = crmSecretRotated;
    const before = (await providerNamed("crm")).clientSecretFingerprint;
    const text = await nexus(["plan", "-f", main]);
    assert.equal(text.code, 2);
    assert.match(text.stdout, /~ update provider crm\n {6}~ client_secret changed/);
    assert.match(text.stdout, /Plan: 0 to create, 1 to update, 0 to delete\./);
    const json = JSON.parse((await nexus(["plan", "-f", main, "--json"])).stdout);
    assert.deepEqual(json.changes.map((c: Record<string, unknown>) => ({ ...c, id: "", version: "" })), [
      { action: "update", kind: "provider", name: "crm", id: "", version: "", fields: [{ field: "client_secret", secret: "changed" }] },
    ]);
    const markdown = await nexus(["plan", "-f", main, "--markdown"]);
    assert.equal(markdown.code, 2);
    assert.match(markdown.stdout, /^### Nexus plan: 0 to create, 1 to update, 0 to delete\n[^]*```diff\n~ update provider crm\n~     client_secret changed/);
    assert.equal((await nexus(["apply", "-f", main, "--yes"])).code, 0);
    assert.notEqual((await providerNamed("crm")).clientSecretFingerprint, before);
    assert.equal((await nexus(["plan", "-f", main])).code, 0);
  });

  it("apply changes params one by one (update mask paths), and plans no changes after", async () => {
    const tuned = await manifest("tuned.yaml", baseManifest().replace("      authorize_params: { prompt: consent }\n", "      authorize_params: { prompt: login }\n      pkce: false\n"));
    const plan = await nexus(["plan", "-f", tuned]);
    assert.equal(plan.code, 2);
    assert.match(plan.stdout, /~ params\.authorize_params: \{"prompt":"consent"\} -> \{"prompt":"login"\}\n {6}~ params\.pkce: true -> false\n/);
    assert.equal((await nexus(["apply", "-f", tuned, "--yes"])).code, 0);
    const crm = await providerNamed("crm");
    assert.deepEqual({ prompt: crm.params?.authorizeParams.prompt, pkce: crm.params?.pkce, description: crm.description }, { prompt: "login", pkce: false, description: "The CRM" });
    assert.equal((await nexus(["plan", "-f", tuned])).code, 0);
    assert.equal((await nexus(["apply", "-f", main, "--yes"])).code, 0);
    assert.equal((await nexus(["plan", "-f", main])).code, 0);
  });

  it("an orphan is listed, not changed, without --prune; --prune deletes a provider and disables an agent", async () => {
    await admin.providers.createProvider({ profile: { name: "legacy", authType: "api_key" } });
    await admin.agents.createAgent({ agent: { name: "stray" } });
    const listed = await nexus(["plan", "-f", main]);
    assert.equal(listed.code, 0, "orphans alone are not changes");
    assert.match(listed.stdout, /! orphan provider legacy: not in the manifest; --prune would delete it\n.*! orphan agent stray: not in the manifest; --prune would disable it/s);
    const pruned = await nexus(["plan", "-f", main, "--prune"]);
    assert.equal(pruned.code, 2);
    assert.match(pruned.stdout, /- delete provider legacy\n.*- disable agent stray/s);
    const applied = await nexus(["apply", "-f", main, "--prune", "--yes"]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(applied.stdout, "");
    const state = JSON.parse(await brokerState());
    assert.ok(!state.providers.some((p: string) => p.startsWith("legacy@")));
    assert.ok(state.agents.some((a: string) => /^stray@\d+ disabled$/.test(a)));
    assert.equal((await nexus(["plan", "-f", main, "--prune"])).code, 0);
  });

  it("an unknown key and a duplicate name: exit 1, each with its line, and nothing changed", async () => {
    const state = await brokerState();
    const text = baseManifest().replace("    description: The CRM\n", "    description: The CRM\n    colour: blue\n") + "  - name: mail-bot\n";
    const bad = await manifest("bad.yaml", text);
    const lineOf = (needle: string, from = 0) => text.split("\n").findIndex((l, i) => i >= from && l === needle) + 1;
    const run = await nexus(["apply", "-f", bad, "--yes"]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.ok(run.stderr.includes(`${bad}:${lineOf("    colour: blue")}:5: $.providers[0].colour: unknown key "colour"`), run.stderr);
    const first = lineOf("  - name: mail-bot");
    assert.ok(run.stderr.includes(`${bad}:${lineOf("  - name: mail-bot", first)}:11: $.agents[2].name: duplicate agent name "mail-bot" (first at line ${first})`), run.stderr);
    assert.equal(await brokerState(), state);
  });

  it("an unset ${env:X} and a missing ${file:...}: exit 1, both named, and nothing changed", async () => {
    const state = await brokerState();
    const broken = await manifest("broken.yaml", baseManifest(`  - name: extra
    auth_type: oauth2
    client_id: x
    client_secret: \${env:NOT_SET_ANYWHERE}
    auth_url: https://x.example/a
    token_url: https://x.example/t
`).replace("${file:secrets/idp.secret}", "${file:secrets/missing.secret}"));
    const run = await nexus(["apply", "-f", broken, "--yes"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /\$\{env:NOT_SET_ANYWHERE\}: the environment variable NOT_SET_ANYWHERE is not set/);
    assert.match(run.stderr, /:17:20: \$\.providers\[1\]\.client_secret: \$\{file:secrets\/missing\.secret\}: cannot read .*secrets\/missing\.secret \(no such file\)/);
    assert.equal(await brokerState(), state);
  });

  it("apply without a terminal needs --yes, and on one asks first; nothing is changed without a yes", async () => {
    const state = await brokerState();
    const changed = await manifest("changed.yaml", baseManifest().replace("description: Weather API", "description: Weather"));
    const run = await nexus(["apply", "-f", changed]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /apply needs --yes when it cannot ask \(no terminal, as in CI\)/);
    const declined = await nexus(["apply", "-f", changed], { interactive: true, confirm: async () => false });
    assert.equal(declined.code, 1);
    assert.match(declined.stderr, /Apply cancelled; nothing was changed\.\n$/);
    assert.equal(await brokerState(), state);
  });

  it("a stale plan is refused: a change made while apply waits for the answer stops it before any change", async () => {
    const changed = await manifest("changed.yaml", baseManifest().replace("description: Weather API", "description: Weather"));
    const run = await nexus(["apply", "-f", changed], {
      interactive: true,
      async confirm() {
        const crm = await providerNamed("crm");
        await admin.providers.patchProvider({ id: crm.id, profile: { description: "changed by hand" }, updateMask: { paths: ["description"] } });
        return true;
      },
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /the Broker changed after the plan above was computed[^]*nothing was changed/);
    assert.equal((await providerNamed("weather")).description, "Weather API");
  });

  it("a change between two of apply's changes is refused by its expected version: apply stops and says what was applied", async () => {
    const changed = await manifest("changed.yaml", baseManifest(`  - name: late
    auth_type: api_key
`).replace("description: Weather API", "description: Weather"));
    const weather = await providerNamed("weather");
    const racing: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input instanceof Request ? input.url : input).endsWith("/CreateProvider")) {
        await admin.providers.patchProvider({ id: weather.id, profile: { category: "by hand" }, updateMask: { paths: ["category"] } });
      }
      return res;
    };
    const run = await nexus(["apply", "-f", changed, "--yes"], { fetch: racing });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /Apply stopped: provider weather was changed by someone else after the plan was computed/);
    // crm is in the plan too: the previous test changed its description by hand.
    assert.match(run.stderr, /applied \(2\):\n {4}create provider late\n {4}update provider crm\n {2}not applied \(1\):\n {4}update provider weather\n/);
    assert.match(run.stderr, /concurrent_change/);
    assert.equal((await providerNamed("late")).authType, "api_key");
    assert.equal((await providerNamed("weather")).description, "Weather API");
    const events = await admin.audit.listAuditEvents({ eventType: "manifest.applied" });
    assert.ok(events.events.some((e) => e.details?.created === 1 && e.details?.updated === 1), "the partial apply is recorded too");
  });

  it("export then plan: no changes, given the variables export names", async () => {
    const run = await nexus(["export"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^# Nexus manifest, written by nexus export/);
    assert.match(run.stdout, /client_secret: \$\{env:NEXUS_CRM_CLIENT_SECRET\}/);
    assert.match(run.stderr, /NEXUS_CRM_CLIENT_SECRET {2}\(provider crm\)\n {2}NEXUS_IDP_CLIENT_SECRET {2}\(provider idp\)/);
    const exported = await manifest("exported.yaml", run.stdout);
    env.NEXUS_CRM_CLIENT_SECRET = crmSecretRotated;
    env.NEXUS_IDP_CLIENT_SECRET = idp.clientSecret;
    const plan = await nexus(["plan", "-f", exported, "--prune"]);
    assert.equal(plan.code, 0, plan.stdout);
    assert.match(plan.stdout, /^No changes/);
    const json = await nexus(["export", "--json"]);
    assert.equal(JSON.parse(json.stdout).version, 1);
    assert.equal((await nexus(["plan", "-f", await manifest("exported.json", json.stdout)])).code, 0);
  });

  it("the real command, node bin/nexus.mjs, plans as a child process", async () => {
    const run = await new Promise<Run>((resolve) => {
      execFile(process.execPath, [join(root, "bin/nexus.mjs"), "plan", "-f", main, "--json"], { cwd: dir, env: { ...process.env, ...env, NO_COLOR: "1" } }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
      });
    });
    transcript.push(run.stdout, run.stderr);
    assert.equal(run.code, 2, run.stderr);
    const plan = JSON.parse(run.stdout);
    assert.deepEqual(plan.summary, { create: 0, update: 1, delete: 0 }, "weather's category, set by hand above");
    assert.deepEqual(plan.changes[0].fields, [{ field: "category", old: "by hand", new: "" }]);
    assert.deepEqual(plan.orphans, [{ kind: "provider", name: "late" }]);
  });

  it("no secret, nor the admin key, appears in anything the command printed", () => {
    assert.ok(transcript.length > 20);
    const all = transcript.join("\n");
    for (const value of secrets) assert.ok(!all.includes(value), `a secret (${value.slice(0, 4)}...) was printed`);
    // FingerprintSecrets carries secrets too: the Broker's debug log must not keep them either.
    const logs = stack.logs.join("\n");
    for (const value of [crmSecret, crmSecretRotated, idp.clientSecret]) assert.ok(!logs.includes(value), "a secret reached the Broker's log");
  });
});
