/**
 * docs/cli.md shows real output: every `console` block marked
 * `<!-- cli-example: NAME -->` is run, command by command and in page order,
 * against a stack set up as `make run` sets it up, and each command's output
 * (stderr and stdout as a terminal shows them) must be what the page says.
 * Ids, keys, page tokens and times differ from run to run: the first time a
 * value appears it is paired with the page's value at the same place, and
 * from then on it must stay paired (so `revoke ID` runs on the id the page's
 * earlier output showed). Named setups (below) do what an agent or a user
 * would do between two blocks.
 *
 * When the page is out of date (a changed message, a new migration), rewrite
 * its outputs from a real run and review the diff:
 *
 *   NEXUS_UPDATE_CLI_DOCS=1 npx tsx test/support/run-tests.ts test/e2e/cli-docs.test.ts
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { brokerRest, registerProvider } from "../support/broker-api.ts";
import { startDocsStack, type DocsStack } from "../support/docs-stack.ts";
import { nexus } from "../support/fake-cli-io.ts";
import { freePort } from "../support/free-port.ts";
import { sleep, until } from "../support/until.ts";

const root = new URL("../../", import.meta.url).pathname;
const page = "docs/cli.md";
const update = process.env.NEXUS_UPDATE_CLI_DOCS === "1";

/** The URLs the page uses, for the stack's Broker and for a port where nothing listens. */
const docBrokerUrl = "http://localhost:8080";
const docDownUrl = "http://localhost:8099";

/** Values that change from run to run: ids (whole, or the first block), agent keys (the page elides them), page tokens. */
const tokenPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|nxa_[A-Za-z0-9_-]+…?|(?<=--page-token )\S+|\b[0-9a-f]{64}\b|\b[0-9a-f]{8}\b/g;
const timePattern = /\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?Z?/g;

interface Step {
  /** The command line, without `$ `. */
  line: string;
  /** What the page shows it printed. */
  output: string;
}

interface Example {
  name: string;
  /** Offsets of the block's content (between the fences) in the page. */
  from: number;
  to: number;
  steps: Step[];
}

/** The marked console blocks of the page. */
function examples(text: string): Example[] {
  return [...text.matchAll(/<!-- cli-example: ([\w-]+) -->\n```console\n([\s\S]*?)```/g)].map((m) => {
    const from = m.index + m[0].indexOf("```console\n") + "```console\n".length;
    const steps: Step[] = [];
    for (const line of m[2]!.split("\n").slice(0, -1)) {
      if (line.startsWith("$ ")) steps.push({ line: line.slice(2), output: "" });
      else if (steps.length > 0) steps.at(-1)!.output += `${line}\n`;
      else throw new Error(`${page}, example ${m[1]}: output before the first command`);
    }
    return { name: m[1]!, from, to: from + m[2]!.length, steps };
  });
}

/** Splits a command line as a shell would (quotes, no expansion but `$?`). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** Pairs run values with the page's: each a key of `toPage`, each page value a key of `toRun`. */
class Pairing {
  readonly toPage = new Map<string, string>();
  readonly toRun = new Map<string, string>();

  set(run: string, shown: string): void {
    this.toPage.set(run, shown);
    this.toRun.set(shown, run);
    // Tables show an id's first block on its own (the audit log's CONNECTION): it pairs with the id.
    if (kind(run) === "id" && kind(shown) === "id") this.set(run.slice(0, 8), shown.slice(0, 8));
  }

  /** The run's output as the page would show it; pairs new values with `shown`'s at the same place, or keeps them. */
  pageForm(output: string, shown: string): string {
    const ran = output.match(tokenPattern) ?? [];
    const seen = shown.match(tokenPattern) ?? [];
    const aligned = ran.length === seen.length;
    ran.forEach((value, i) => {
      if (this.toPage.has(value)) return;
      const candidate = aligned ? seen[i]! : undefined;
      // A page value already paired with another run value cannot be this one's too.
      if (candidate !== undefined && !this.toRun.has(candidate) && kind(candidate) === kind(value)) this.set(value, candidate);
      else if (update) this.set(value, kind(value) === "key" ? elideKey(value) : value);
    });
    return output.replace(tokenPattern, (value) => this.toPage.get(value) ?? value);
  }

  /** A command line of the page with the page's values replaced by the run's; throws on a value no output showed. */
  runForm(line: string): string {
    return line.replace(tokenPattern, (value) => {
      const run = this.toRun.get(value);
      if (run === undefined) throw new Error(`"${line}" uses ${value}, which no earlier output on the page showed`);
      return run;
    });
  }
}

const kind = (value: string) => (value.startsWith("nxa_") ? "key" : value.length === 36 ? "id" : value.length === 8 && /^[0-9a-f]+$/.test(value) ? "short" : "token");
/** The page never shows a whole agent key: secret scanners look for `nxa_`. The agent's id in it is no secret. */
const elideKey = (key: string) => `${key.slice(0, 36)}…`;
const normal = (text: string) => text.replace(timePattern, "<time>");

describe(`${page} examples`, () => {
  let docs: DocsStack;
  let downUrl = "";
  const pairing = new Pairing();
  /** The latest key of each agent, as create and rotate-key printed it. */
  const keys = new Map<string, string>();
  /** Connection ids by workspace, as the setups made them. */
  const connections = new Map<string, string>();
  let lastCode = 0;

  async function agentId(name: string): Promise<string> {
    const r = await brokerRest(docs.stack, "GET", "/agents");
    return ((r.body.agents as { id: string; name: string; disabled?: boolean }[]).find((a) => a.name === name && a.disabled !== true))!.id;
  }

  async function connect(key: string, workspace: string, capture: boolean): Promise<void> {
    const res = await fetch(`${docs.gatewayUrl}/v1/request-connection`, {
      method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: workspace, provider_name: "demo-api", return_url: "https://app.example.com/back" }),
    });
    const started = (await res.json()) as { connection_id: string; state: string };
    assert.equal(res.status, 200, JSON.stringify(started));
    connections.set(workspace, started.connection_id);
    if (!capture) return;
    const captured = await fetch(`${docs.gatewayUrl}/v1/capture-credential`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ state: started.state, credentials: { api_key: `sk_test_${workspace}` } }),
    });
    assert.equal(captured.status, 200, await captured.text());
  }

  async function createSession(key: string, spec: Record<string, unknown>): Promise<string> {
    const res = await fetch(`${docs.gatewayUrl}/v1/sessions`, {
      method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(spec),
    });
    const body = (await res.json()) as { session_id: string };
    assert.equal(res.status, 201, JSON.stringify(body));
    return body.session_id;
  }

  /** What happens before a block: what agents and users did in the meantime. */
  /** The page's manifest, written where `nexus.yaml` in a command line points. */
  let manifestDir = "";
  const setups: Record<string, () => Promise<void>> = {
    "manifest-plan": async () => {
      const text = readFileSync(`${root}${page}`, "utf8");
      const yaml = /<!-- cli-manifest -->\n```yaml\n([\s\S]*?)```/.exec(text)?.[1];
      assert.ok(yaml !== undefined, `${page}: no cli-manifest block`);
      manifestDir = mkdtempSync(join(tmpdir(), "nexus-docs-"));
      writeFileSync(join(manifestDir, "nexus.yaml"), yaml);
    },
    "connections-list": async () => {
      const key = keys.get("billing-agent")!;
      await connect(key, "alice", true);
      await connect(key, "bob", true);
      await connect(key, "carol", false);
    },
    sessions: async () => {
      const key = keys.get("billing-agent")!;
      const root = await createSession(key, { connection_id: connections.get("alice"), agent_id: await agentId("billing-agent"), ttl_seconds: 3600 });
      await createSession(key, { connection_id: connections.get("alice"), agent_id: await agentId("dev-agent"), parent_session_id: root, ttl_seconds: 600 });
    },
  };

  /** What happens while a `--follow` block runs. */
  const during: Record<string, () => Promise<void>> = {
    "audit-follow": async () => {
      const r = await brokerRest(docs.stack, "DELETE", `/connections/${connections.get("alice")}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    },
  };

  /** Runs one command line of the page; returns what it printed, as a terminal shows it. */
  async function run(line: string, example: string): Promise<string> {
    const argv = words(pairing.runForm(line.replaceAll(docBrokerUrl, docs.stack.broker.url).replaceAll(docDownUrl, downUrl)))
      .map((w) => (w === "nexus.yaml" && manifestDir !== "" ? join(manifestDir, "nexus.yaml") : w));
    const env: Record<string, string> = { NEXUS_BROKER_URL: docs.stack.broker.url, NEXUS_ADMIN_KEY: docs.stack.adminKey };
    while (/^[A-Z_]+=/.test(argv[0] ?? "")) {
      const [name, ...value] = argv.shift()!.split("=");
      env[name!] = value.join("=");
    }
    if (argv.join(" ") === "echo $?") return `${lastCode}\n`;
    assert.equal(argv.shift(), "nexus", `${page}, example ${example}: "${line}" is not a nexus command`);
    let result;
    if (argv.includes("--follow")) {
      const interrupt = new AbortController();
      let printed = "";
      const following = nexus(argv, { env, interrupt: interrupt.signal, onStdout: (t) => (printed += t) });
      await until("the first page", async () => (printed.includes("\n") ? true : undefined));
      const lines = printed.split("\n").length;
      await during[example]?.();
      await until("a new event", async () => (printed.split("\n").length > lines ? true : undefined), 10_000);
      interrupt.abort();
      result = await following;
    } else {
      result = await nexus(argv, { env });
    }
    lastCode = result.code;
    assert.ok(!result.output.includes(docs.stack.adminKey), `"${line}" printed the admin key`);
    const created = /^(?:Registered agent|Rotated the API key of agent) ([\w-]+) /.exec(result.stderr);
    if (created !== null) keys.set(created[1]!, result.stdout.trim());
    // Give queued audit events (agent changes wait up to 200 ms) time to land, so the log's order is the same every run.
    await sleep(300);
    const shown = result.output.replaceAll(docs.stack.broker.url, docBrokerUrl).replaceAll(downUrl, docDownUrl);
    return manifestDir === "" ? shown : shown.replaceAll(join(manifestDir, "nexus.yaml"), "nexus.yaml");
  }

  before(async () => {
    docs = await startDocsStack();
    downUrl = `http://127.0.0.1:${await freePort()}`;
    await registerProvider(docs.stack, { name: "demo-api", auth_type: "api_key", description: "A demo API-key service" });
  });
  after(() => docs.close());

  it("runs every example and prints what the page shows", async () => {
    const text = readFileSync(`${root}${page}`, "utf8");
    const blocks = examples(text);
    assert.ok(blocks.length >= 10, `found ${blocks.length} examples`);
    const unknownSetups = [...Object.keys(setups), ...Object.keys(during)].filter((n) => !blocks.some((b) => b.name === n));
    assert.deepEqual(unknownSetups, [], "every setup names an example of the page");
    const problems: string[] = [];
    const failures: string[] = [];
    for (const block of blocks) {
      await setups[block.name]?.();
      await sleep(300);
      for (const step of block.steps) {
        let shown: string;
        try {
          shown = pairing.pageForm(await run(step.line, block.name), step.output);
        } catch (error) {
          failures.push(`example ${block.name}, $ ${step.line}: ${error instanceof Error ? error.message : String(error)}`);
          continue;
        }
        if (normal(shown) !== normal(step.output)) {
          problems.push(`example ${block.name}, $ ${step.line}:\n--- the page shows\n${step.output}--- the command printed\n${shown}`);
        }
        // Only outputs that differ are rewritten: times alone do not churn the page.
        if (update && normal(shown) !== normal(step.output)) step.output = shown;
      }
    }
    if (update) {
      let out = "";
      let at = 0;
      for (const block of blocks) {
        out += text.slice(at, block.from) + block.steps.map((s) => `$ ${s.line}\n${s.output}`).join("");
        at = block.to;
      }
      writeFileSync(`${root}${page}`, out + text.slice(at));
    }
    assert.deepEqual(failures, [], "every example runs");
    if (!update) assert.deepEqual(problems, [], `${page} is out of date; see the test's header for how to rewrite its examples`);
  });
});
