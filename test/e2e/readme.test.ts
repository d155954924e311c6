import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { registerAgent } from "../support/agents.ts";
import { docsBlock } from "../support/docs-stack.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;

/** The ```sh block that follows `<!-- readme-test: name -->` in the README. */
function readmeBlock(name: string): string {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const m = new RegExp(`<!-- readme-test: ${name} -->\\s*\`\`\`sh\\n([\\s\\S]*?)\`\`\``).exec(readme);
  assert.ok(m, `README has no block marked readme-test: ${name}`);
  return m[1]!;
}

describe("the README's requirements", () => {
  it("names the Node.js version package.json's engines needs, as the quickstart does", () => {
    const engines = (JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { engines: { node: string } }).engines.node;
    const version = /^>=(\d+\.\d+)$/.exec(engines)?.[1];
    assert.ok(version, `engines.node is a plain lower bound: ${engines}`);
    for (const file of ["README.md", "docs/quickstart.md"]) {
      const stated = /You need Node\.js ([\d.]+) or newer/.exec(readFileSync(`${root}${file}`, "utf8"))?.[1];
      assert.equal(stated, version, `${file} states the Node.js requirement of package.json`);
    }
  });
});

describe("the README's commands work as written, and the pages' marked blocks this stack can run", () => {
  let stack: TestStack;
  let env: Record<string, string>;
  before(async () => {
    // As `make run` sets it up: no AGENT_API_KEYS, and the agent key it prints is a registered agent's.
    stack = await startStack({ gatewayEnv: { AGENT_API_KEYS: "" } });
    const devAgent = await registerAgent(stack.broker.url, stack.adminKey, { name: "dev-agent" });
    env = { ...(process.env as Record<string, string>), GATEWAY: stack.gateway.url, BROKER: stack.broker.url, ADMIN_KEY: stack.adminKey, AGENT_KEY: devAgent.apiKey };
  });
  after(() => stack.close());

  it("quickstart with curl, then the same with buf curl over gRPC, then a second agent", async () => {
    // The blocks run in one shell, as a reader pastes them one after the other.
    const script = `set -euo pipefail\n${readmeBlock("quickstart-curl")}\necho "---grpc---"\n${readmeBlock("quickstart-grpc")}`
      + `\necho "---agents---"\n${readmeBlock("register-agent")}`;
    const { stdout } = await run("bash", ["-c", script], { cwd: root, env, timeout: 60_000 });
    const [curlPart, grpcPart, agentsPart] = stdout.split(/---grpc---|---agents---/);
    assert.match(curlPart!, /\{"id":"[0-9a-f-]{36}","name":"demo-api"\}/);
    assert.match(curlPart!, /"auth_url":"http:\/\/127\.0\.0\.1:1\/auth\/capture\?state=/);
    assert.match(curlPart!, /\{"connection_id":"[0-9a-f-]{36}","status":"active"\}/);
    assert.match(curlPart!, /\{"status":"active","reason":""\}/);
    assert.equal(curlPart!.match(/"credentials":\{"api_key":"sk_test_alice"\}/g)?.length, 2, "token and resolve both answer");
    assert.match(grpcPart!, /^nexus\.gateway\.v1\.GatewayService\/GetToken$/m);
    assert.equal(grpcPart!.match(/"api_key": "sk_test_alice"/g)?.length, 2, "GetToken and ResolveToken over gRPC");
    assert.match(agentsPart!, /\{"agent":\{"id":"[0-9a-f-]{36}","name":"billing-agent",[^\n]*\},"api_key":"nxa_[0-9A-Za-z]+"\}/);
    assert.match(agentsPart!, /\{"code":"permission_denied","message":"agent_not_authorized: /);
    assert.match(agentsPart!, /\{"code":"not_found","message":"connection_not_found: /);
    assert.match(agentsPart!, /\{"code":"permission_denied","message":"provider_not_allowed: /);
    assert.ok(!agentsPart!.includes("sk_test_alice"), "the second agent never sees alice's key");
  });

  it("docs/providers.md: the query-parameter provider registers as written, with the strategy it names", async () => {
    // providers.md calls the admin key API_KEY.
    const { stdout } = await run("bash", ["-c", `set -euo pipefail\n${docsBlock("docs/providers.md", "provider-query-param")}`], { cwd: root, env: { ...env, API_KEY: stack.adminKey }, timeout: 60_000 });
    const created = JSON.parse(stdout) as { id: string; name: string };
    assert.equal(created.name, "openweather");
    const read = await fetch(`${stack.broker.url}/providers/${created.id}`, { headers: { "x-api-key": stack.adminKey } });
    const profile = (await read.json()) as { auth_type: string; params: { auth_strategy: unknown } }; // REST answers the profile itself
    assert.equal(profile.auth_type, "query_param");
    assert.deepEqual(profile.params.auth_strategy, { type: "query_param", config: { param_name: "appid", credential_field: "api_key" } });
  });
});
