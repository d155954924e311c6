/**
 * What a reader of the documentation has after `make run`, for tests that run
 * a page's commands as written: a Broker, a Gateway whose GATEWAY_PUBLIC_URL
 * is its real URL (session tokens name it as their issuer, and the JWKS is
 * published under it), no AGENT_API_KEYS, the development agent `dev-agent`
 * and the sandbox providers (`sandbox`, `sandbox-api`) registered as make run
 * registers them. Plus the marked blocks of a page, and a bash that runs them.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { type Sandbox, startSandbox } from "../../src/runtime/node/sandbox/start-sandbox.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { registerAgent } from "./agents.ts";
import { freePort } from "./free-port.ts";
import { startStack, type TestStack } from "./stack.ts";

const root = new URL("../../", import.meta.url).pathname;

/** A running make-run-like stack. */
export interface DocsStack {
  readonly stack: TestStack;
  readonly gatewayUrl: string;
  readonly sandbox: Sandbox;
  /** The variables the page tells the reader to set, as make run prints them. */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

/** Starts the stack; `extraEnv` is added to the reader's variables, `gatewayEnv` to the Gateway's environment. */
export async function startDocsStack(extraEnv: Record<string, string> = {}, gatewayEnv: Record<string, string> = {}): Promise<DocsStack> {
  const stack = await startStack({ brokerOnly: true });
  const port = await freePort();
  const gatewayUrl = `http://127.0.0.1:${port}`;
  const gateway = await startGateway(
    { BROKER_URL: stack.broker.url, BROKER_API_KEY: stack.adminKey, GATEWAY_PUBLIC_URL: gatewayUrl, LOG_LEVEL: "debug", ...gatewayEnv },
    { port, logWrite: (l) => void stack.logs.push(l) },
  );
  const devAgent = await registerAgent(stack.broker.url, stack.adminKey, { name: "dev-agent" });
  const sandbox = await startSandbox({ port: 0, brokerBaseUrl: "http://127.0.0.1:1", broker: { url: stack.broker.url, apiKey: stack.adminKey } });
  const { PATH = "", HOME = "" } = process.env;
  const env = {
    PATH, HOME, GATEWAY: gatewayUrl, BROKER: stack.broker.url, ADMIN_KEY: stack.adminKey, AGENT_KEY: devAgent.apiKey,
    SANDBOX_API: sandbox.apiUrl, NPM_CONFIG_UPDATE_NOTIFIER: "false", ...extraEnv,
  };
  return {
    stack, gatewayUrl, sandbox, env,
    async close() {
      await gateway.close();
      await sandbox.close();
      await stack.close();
    },
  };
}

/** The fenced block of `lang` that follows `<!-- docs-test: name -->` in `page` (relative to the repository root). */
export function docsBlock(page: string, name: string, lang = "sh"): string {
  const text = readFileSync(`${root}${page}`, "utf8");
  const m = new RegExp(`<!-- docs-test: ${name} -->\\s*\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(text);
  assert.ok(m, `${page} has no ${lang} block marked docs-test: ${name}`);
  return m[1]!;
}

/**
 * Runs `script` with bash from the repository root, as a reader pastes it
 * into one shell (`set -euo pipefail` first); resolves with its stdout. The
 * shell leads a process group of its own, killed at the end, so a server
 * the script left in the background never outlives the test.
 */
export function runBash(script: string, env: Record<string, string>, timeoutMs = 90_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", `set -euo pipefail\n${script}`], { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c));
    child.stderr.on("data", (c: Buffer) => (err += c));
    const killGroup = () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // The group is gone already.
      }
    };
    const timer = setTimeout(killGroup, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      killGroup();
      if (code === 0) resolve(out);
      else reject(new Error(`bash exited ${code}\n--- stdout\n${out}\n--- stderr\n${err}`));
    });
  });
}
