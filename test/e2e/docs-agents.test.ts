/**
 * docs/agents.md's key-pair example runs as written, as a reader runs it: the
 * marked script through plain `node` from the checkout, against a Gateway set
 * up as `make run` sets it up (no AGENT_API_KEYS, the default public URL) with
 * a sandbox-api provider registered.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { registerProvider } from "../support/broker-api.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const root = new URL("../../", import.meta.url).pathname;

/** The ```js block that follows `<!-- docs-test: name -->` in docs/agents.md. */
function docsBlock(name: string): string {
  const page = readFileSync(`${root}docs/agents.md`, "utf8");
  const m = new RegExp(`<!-- docs-test: ${name} -->\\s*\`\`\`js\\n([\\s\\S]*?)\`\`\``).exec(page);
  assert.ok(m, `docs/agents.md has no block marked docs-test: ${name}`);
  return m[1]!;
}

/** Runs an ES module with node from the repository root (so `jose` resolves as it does for the reader); its stdout. */
function runModule(source: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module"], { cwd: root, env, stdio: ["pipe", "pipe", "pipe"], timeout: 30_000 });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c));
    child.stderr.on("data", (c: Buffer) => (err += c));
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`node exited ${code}: ${err}`))));
    child.stdin.end(source);
  });
}

describe("docs/agents.md", () => {
  let stack: TestStack;
  before(async () => {
    stack = await startStack({ gatewayEnv: { AGENT_API_KEYS: "" } });
    await registerProvider(stack, { name: "sandbox-api", auth_type: "api_key" });
  });
  after(() => stack.close());

  it("the key-pair example registers an agent, calls with an assertion per call, and sees a replay refused", async () => {
    const { PATH = "", HOME = "" } = process.env;
    const out = await runModule(docsBlock("key-pair"), { PATH, HOME, GATEWAY: stack.gateway.url, BROKER: stack.broker.url, ADMIN_KEY: stack.adminKey });
    const lines = out.trim().split("\n");
    assert.match(lines[0]!, /^registered key-pair-agent-\d+ [0-9a-f-]{36}$/);
    assert.match(lines[1]!, /^started 200 [0-9a-f-]{36}$/);
    assert.equal(lines[2], 'checked 200 {"status":"pending","reason":""}');
    assert.equal(lines[3], "replayed 401 assertion_replayed: this assertion was used before; sign a new one (with a new jti) for every call");
  });
});
