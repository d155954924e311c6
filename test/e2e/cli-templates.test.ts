/**
 * Provider templates in `nexus` manifests, against a real Broker: a provider
 * written as a template name, a client and its template values plans and
 * applies what the Broker would make of it, plans "no changes" after, an
 * edited template value is applied again (a PUT, as a PATCH cannot change a
 * template), and a missing value or unknown template is a located manifest
 * problem before anything changes.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type BrokerAdmin, createBrokerAdmin } from "../../src/cli/broker-admin.ts";
import { runCli } from "../../src/cli/run-cli.ts";
import { startStack, type TestStack } from "../support/stack.ts";

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe("nexus manifests with provider templates", () => {
  let stack: TestStack;
  let admin: BrokerAdmin;
  let dir: string;
  let env: Record<string, string>;
  const slackSecret = `slack-${randomBytes(12).toString("hex")}`;
  const transcript: string[] = [];

  async function nexus(args: string[]): Promise<Run> {
    let stdout = "";
    let stderr = "";
    const code = await runCli(args, {
      stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t),
      env, interactive: false, color: false, readFile: (path) => readFile(path, "utf8"),
      confirm: async () => assert.fail("apply asked without a terminal"),
      now: Date.now, sleep: async () => {}, interrupted: new AbortController().signal, fetch: globalThis.fetch,
    });
    transcript.push(stdout, stderr);
    return { code, stdout, stderr };
  }
  async function manifest(text: string): Promise<string> {
    const path = join(dir, `m-${randomBytes(4).toString("hex")}.yaml`);
    await writeFile(path, text);
    return path;
  }
  const providers = (tenant: string) => `version: 1
providers:
  - name: slack
    template: slack
    client_id: slack-client
    client_secret: \${env:SLACK_SECRET}
  - name: outlook
    template: microsoft
    client_id: ms-client
    client_secret: \${env:SLACK_SECRET}
    template_values: { tenant: ${tenant} }
    scopes: [openid, offline_access, Mail.Read]
  - name: stripe
    template: stripe
  - name: aws-s3
    template: aws
    template_values: { service: s3, region: eu-west-1 }
`;

  before(async () => {
    stack = await startStack({ brokerOnly: true });
    admin = createBrokerAdmin({ url: stack.broker.url, adminKey: stack.adminKey, fetch: globalThis.fetch });
    dir = await mkdtemp(join(tmpdir(), "nexus-cli-templates-"));
    env = { NEXUS_BROKER_URL: stack.broker.url, NEXUS_ADMIN_KEY: stack.adminKey, SLACK_SECRET: slackSecret };
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("plans a templated provider as the Broker will store it, applies it, then plans no changes", async () => {
    const file = await manifest(providers("contoso.onmicrosoft.com"));
    const plan = await nexus(["plan", "-f", file, "--json"]);
    assert.equal(plan.code, 2, plan.stderr);
    const creates = (JSON.parse(plan.stdout) as { changes: { name: string; fields: { field: string; new?: unknown }[] }[] }).changes;
    const outlook = creates.find((c) => c.name === "outlook")!;
    const field = (name: string) => outlook.fields.find((f) => f.field === name)?.new;
    assert.equal(field("auth_url"), "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize");
    assert.deepEqual(field("scopes"), ["openid", "offline_access", "Mail.Read"], "a field beside the template wins");
    assert.equal(field("template"), "microsoft");
    const apply = await nexus(["apply", "-f", file, "--yes"]);
    assert.equal(apply.code, 0, apply.stderr);
    const slack = (await admin.providers.getProviderByName({ name: "slack" })).provider!;
    assert.equal(slack.template, "slack");
    assert.deepEqual(slack.params?.quirks, ["error_in_200"]);
    assert.equal(slack.hasClientSecret, true);
    const s3 = (await admin.providers.getProviderByName({ name: "aws-s3" })).provider!;
    assert.deepEqual({ ...s3.params?.authStrategy?.config }, { service: "s3", region: "eu-west-1" });
    const again = await nexus(["plan", "-f", file]);
    assert.equal(again.code, 0, `${again.stdout}${again.stderr}`);
    assert.match(again.stdout + again.stderr, /[Nn]o changes/);
  });

  it("applies an edited template value by applying the template again", async () => {
    const file = await manifest(providers("fabrikam.onmicrosoft.com"));
    const before = (await admin.providers.getProviderByName({ name: "outlook" })).provider!;
    const plan = await nexus(["plan", "-f", file, "--json"]);
    assert.equal(plan.code, 2, plan.stderr);
    const changes = (JSON.parse(plan.stdout) as { changes: { action: string; name: string; fields: { field: string }[] }[] }).changes;
    assert.deepEqual(changes.map((c) => `${c.action} ${c.name}`), ["update outlook"]);
    assert.deepEqual(changes[0]!.fields.map((f) => f.field).sort(), ["auth_url", "template_values", "token_url"]);
    const apply = await nexus(["apply", "-f", file, "--yes"]);
    assert.equal(apply.code, 0, apply.stderr);
    const after = (await admin.providers.getProviderByName({ name: "outlook" })).provider!;
    assert.equal(after.tokenUrl, "https://login.microsoftonline.com/fabrikam.onmicrosoft.com/oauth2/v2.0/token");
    assert.equal(after.hasClientSecret, true, "the stored secret is kept");
    assert.equal(after.clientSecretFingerprint, before.clientSecretFingerprint);
    assert.equal((await nexus(["plan", "-f", file])).code, 0);
  });

  it("export writes the template, and what it writes plans no changes", async () => {
    const exported = await nexus(["export"]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /template: microsoft/);
    const file = await manifest(exported.stdout);
    const vars = Object.fromEntries([...exported.stdout.matchAll(/\$\{env:([A-Z_]+)\}/g)].map((m) => [m[1]!, slackSecret]));
    env = { ...env, ...vars };
    const plan = await nexus(["plan", "-f", file]);
    assert.equal(plan.code, 0, `${plan.stdout}${plan.stderr}`);
  });

  it("reports a missing template value and an unknown template at their lines, and changes nothing", async () => {
    const state = JSON.stringify((await admin.providers.listProviders({})).providers.map((p) => `${p.name}@${p.version}`));
    const file = await manifest(`version: 1
providers:
  - name: outlook
    template: microsoft
    client_id: ms-client
  - name: gmail
    template: gmail
    client_id: g
`);
    const run = await nexus(["apply", "-f", file, "--yes"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /:3:5: \$\.providers\[0\]\.template_values\.tenant: is required by template "microsoft"/);
    assert.match(run.stderr, /:7:15: \$\.providers\[1\]\.template: the Broker has no template "gmail"/);
    assert.equal(JSON.stringify((await admin.providers.listProviders({})).providers.map((p) => `${p.name}@${p.version}`)), state);
  });

  it("never prints the client secret", () => {
    for (const text of transcript) assert.ok(!text.includes(slackSecret));
  });
});
