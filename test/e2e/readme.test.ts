import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
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

describe("the README's commands work as written", () => {
  let stack: TestStack;
  let env: Record<string, string>;
  before(async () => {
    stack = await startStack();
    env = { ...(process.env as Record<string, string>), GATEWAY: stack.gateway.url, BROKER: stack.broker.url, ADMIN_KEY: stack.adminKey, AGENT_KEY: stack.agentKey };
  });
  after(() => stack.close());

  it("quickstart with curl, then the same with buf curl over gRPC", async () => {
    // Both blocks run in one shell, as a reader pastes them one after the other.
    const script = `set -euo pipefail\n${readmeBlock("quickstart-curl")}\necho "---grpc---"\n${readmeBlock("quickstart-grpc")}`;
    const { stdout } = await run("bash", ["-c", script], { cwd: root, env, timeout: 60_000 });
    const [curlPart, grpcPart] = stdout.split("---grpc---");
    assert.match(curlPart!, /\{"id":"[0-9a-f-]{36}","name":"demo-api"\}/);
    assert.match(curlPart!, /"auth_url":"http:\/\/127\.0\.0\.1:1\/auth\/capture\?state=/);
    assert.match(curlPart!, /\{"connection_id":"[0-9a-f-]{36}","status":"active"\}/);
    assert.match(curlPart!, /\{"status":"active","reason":""\}/);
    assert.equal(curlPart!.match(/"credentials":\{"api_key":"sk_test_alice"\}/g)?.length, 2, "token and resolve both answer");
    assert.match(grpcPart!, /^nexus\.gateway\.v1\.GatewayService\/GetToken$/m);
    assert.equal(grpcPart!.match(/"api_key": "sk_test_alice"/g)?.length, 2, "GetToken and ResolveToken over gRPC");
  });
});
