/**
 * The Python SDK (sdk/python) against a real Gateway and Broker: `python3 -m
 * unittest` runs its whole suite (unit tests, every call, every strategy
 * checked by a local server that recomputes it, the cache, the 401 retry,
 * errors, sessions and exchange, docs/agents-python.md's agent) three ways:
 * from the source tree; in a fresh virtual environment without site packages
 * where `pip install --no-index sdk/python` put it, which proves it needs
 * nothing beyond the standard library; and, where wheels of requests and httpx
 * are on this machine, its adapters in a throwaway environment that has them.
 *
 * Python 3.10 or newer must be on PATH (`make test` installs Debian's python3
 * when it is missing: scripts/ensure-python.sh); NEXUS_PYTHON names another.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { devNull, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connectStatic } from "../support/client-stack.ts";
import { docsBlock, runBash } from "../support/docs-stack.ts";
import { type PythonSdkStack, startPythonSdkStack } from "../support/python-sdk-stack.ts";

const root = new URL("../../", import.meta.url).pathname;
const sdk = join(root, "sdk/python");
const tests = join(sdk, "tests");
const python = process.env.NEXUS_PYTHON ?? "python3";

/** Skips a test may report, and why each is fine; anything else (a live test without its Gateway) fails. */
const acceptableSkips = [
  "requests is not installed", "httpx is not installed", "requests and httpx are both installed",
  "botocore is not installed", "not the zero-dependency run", "tomllib arrived in Python 3.11",
];

interface Run {
  readonly code: number | null;
  /** stdout and stderr together: unittest reports on stderr. */
  readonly out: string;
}

/** Runs a command with exactly `env` (nothing inherited), killing it after `timeoutMs`. */
function run(command: string, args: string[], options: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"], timeout: options.timeoutMs ?? 300_000 });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c));
    child.stderr.on("data", (c: Buffer) => (out += c));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, out }));
  });
}

/** What `python -m unittest -v` reported: how many ran, and each skipped test with its reason. */
function unittestSummary(result: Run): { ran: number; skipped: Map<string, string>; passed: Set<string> } {
  assert.equal(result.code, 0, result.out);
  assert.match(result.out, /^OK( \(skipped=\d+\))?$/m, result.out);
  const ran = Number(/^Ran (\d+) tests? in /m.exec(result.out)?.[1]);
  // "name (module.Class)" before Python 3.11, "name (module.Class.name)" since.
  const id = (m: RegExpMatchArray) => (m[2]!.endsWith(`.${m[1]}`) ? m[2]! : `${m[2]}.${m[1]}`);
  const skipped = new Map([...result.out.matchAll(/^(\w+) \(([\w.]+)\)[^\n]*? \.\.\. skipped '([^']*)'$/gm)].map((m) => [id(m), m[3]!]));
  const passed = new Set([...result.out.matchAll(/^(\w+) \(([\w.]+)\)[^\n]*? \.\.\. ok$/gm)].map((m) => id(m)));
  for (const [name, reason] of skipped) assert.ok(acceptableSkips.includes(reason), `${name} was skipped: ${reason}`);
  return { ran, skipped, passed };
}

/** The environment of a Python run: the stack's variables and nothing from this machine's Python or pip setup. */
function pythonEnv(stack: PythonSdkStack, extra: Record<string, string> = {}): Record<string, string> {
  const { PATH = "", HOME = "" } = process.env;
  return { PATH, HOME, PIP_CONFIG_FILE: devNull, PIP_DISABLE_PIP_VERSION_CHECK: "1", PYTHONDONTWRITEBYTECODE: "1", NEXUS_TEST_REQUIRE_LIVE: "1", ...stack.env, ...extra };
}

describe("the Python SDK (sdk/python) against a real Gateway and Broker", () => {
  let stack: PythonSdkStack;
  const scratch = mkdtempSync(join(tmpdir(), "nexus-python-"));
  // One virtual environment: the zero-dependency run has nexus-sdk alone in it; the adapter run adds requests and httpx after.
  const venv = join(scratch, "venv");
  const venvPython = join(venv, "bin", "python");

  before(async () => {
    const version = await run(python, ["-c", "import sys; print(sys.version.split()[0], sys.version_info >= (3, 10))"], { cwd: root, env: { PATH: process.env.PATH ?? "" } })
      .catch((error: Error) => ({ code: -1, out: error.message }));
    assert.match(version.out, /^\S+ True$/m, `Python 3.10 or newer is needed as "${python}" (scripts/ensure-python.sh installs it): ${version.out}`);
    const [created] = await Promise.all([
      run(python, ["-m", "venv", venv], { cwd: scratch, env: { PATH: process.env.PATH ?? "" } }),
      startPythonSdkStack().then((s) => void (stack = s)),
    ]);
    assert.equal(created.code, 0, `python3 -m venv failed (Debian needs the python3-venv package): ${created.out}`);
  });
  after(async () => {
    await stack?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("docs/agents-http.md: the sandbox API answers the credential an agent fetched, as the page shows", async () => {
    await connectStatic(stack.stack, "sandbox-api", "alice", { api_key: stack.sandbox.apiKey });
    const { PATH = "", HOME = "" } = process.env;
    const out = await runBash(docsBlock("docs/agents-http.md", "sandbox-api-call"), {
      PATH, HOME, GATEWAY: stack.stack.gatewayUrl, AGENT_KEY: stack.stack.agentKey, SANDBOX_API: stack.sandbox.apiUrl,
    });
    assert.equal(out, '{"user":"sandbox-user","plan":"free"}\n');
  });

  it("python3 -m unittest from the source tree: every test passes, no live test skipped", async () => {
    const summary = unittestSummary(await run(python, ["-m", "unittest", "discover", "-s", "sdk/python/tests", "-v"], { cwd: root, env: pythonEnv(stack) }));
    assert.ok(summary.ran >= 90, `ran ${summary.ran}`);
    for (const name of ["test_live_session.Cache.test_a_hundred_concurrent_requests_cost_one_gateway_call",
      "test_live_session.ProviderUnauthorized.test_a_401_forces_one_refresh_and_one_retry_with_the_same_body",
      "test_live_strategies.Strategies.test_aws_sigv4_is_accepted_by_an_independent_verifier_and_covers_the_body",
      "test_live_sessions.Delegation.test_create_get_exchange_use_delegate_and_revoke",
      "test_docs_example.AgentsPython.test_the_complete_agent_connects_alice_and_calls_the_sandbox_api",
      "test_messages.AgainstProto.test_messages_py_is_what_the_proto_files_generate"]) {
      assert.ok(summary.passed.has(name), `${name} did not pass`);
    }
  });

  it("in a virtual environment without site packages: pip install --no-index sdk/python, then the whole suite on the installed copy", async () => {
    const installed = await run(venvPython, ["-m", "pip", "install", "--no-index", "--no-cache-dir", sdk], { cwd: scratch, env: pythonEnv(stack) });
    assert.equal(installed.code, 0, installed.out);
    const list = await run(venvPython, ["-m", "pip", "list", "--format=json"], { cwd: scratch, env: pythonEnv(stack) });
    const names = (JSON.parse(list.out.split("\n").find((l) => l.startsWith("[")) ?? "[]") as { name: string }[]).map((p) => p.name).sort();
    // pip itself, and setuptools in the venvs of Python 3.11 and older: nothing nexus-sdk brought.
    assert.deepEqual(names.filter((n) => n !== "pip" && n !== "setuptools"), ["nexus-sdk"]);
    // -I: no user site, no PYTHON* variables, not even the current directory on sys.path.
    const summary = unittestSummary(await run(venvPython, ["-I", "-B", "-m", "unittest", "discover", "-s", tests, "-v"], {
      cwd: scratch, env: pythonEnv(stack, { NEXUS_TEST_EXPECT_INSTALLED: venv }),
    }));
    assert.ok(summary.passed.has("test_installed.Installed.test_the_package_comes_from_the_virtual_environment_site_packages"));
    assert.ok(summary.passed.has("test_installed.Installed.test_no_third_party_package_is_importable"));
    assert.ok(summary.passed.has("test_adapters.WithoutThem.test_importing_a_missing_adapter_names_what_to_install"));
    assert.ok(summary.passed.has("test_docs_example.AgentsPython.test_the_complete_agent_connects_alice_and_calls_the_sandbox_api"));
    assert.equal(summary.skipped.get("test_adapters.RequestsAuth.test_hmac_over_the_exact_body"), "requests is not installed");
  });

  it("the requests and httpx adapters, once that environment has them too (skipped without local wheels)", async (t) => {
    const sources = await localWheelSources();
    if (sources.length === 0) return t.skip("no local wheels of requests and httpx (set NEXUS_PYTHON_WHEELS to a directory of them)");
    const installed = await run(venvPython, ["-m", "pip", "install", "--no-cache-dir", ...sources, "requests", "httpx"], { cwd: scratch, env: pythonEnv(stack) });
    if (installed.code !== 0) return t.skip(`requests and httpx cannot be installed from ${sources.join(" ")}: ${installed.out.trim().split("\n").at(-1)}`);
    const summary = unittestSummary(await run(venvPython, ["-I", "-B", "-m", "unittest", "discover", "-s", tests, "-p", "test_adapters.py", "-v"], {
      cwd: scratch, env: pythonEnv(stack),
    }));
    assert.deepEqual([...summary.skipped.keys()], ["test_adapters.WithoutThem.test_importing_a_missing_adapter_names_what_to_install"]);
    assert.ok(summary.passed.has("test_adapters.HttpxAuth.test_async_client"));
    assert.ok(summary.passed.has("test_adapters.RequestsAuth.test_a_provider_401_costs_one_refresh_and_one_retry"));
  });
});

/**
 * pip arguments that reach wheels on this machine only, never the network:
 * NEXUS_PYTHON_WHEELS (a directory), else the file:// indexes pip is
 * configured with. Empty when there are none.
 */
async function localWheelSources(): Promise<string[]> {
  const dir = process.env.NEXUS_PYTHON_WHEELS;
  if (dir !== undefined && dir !== "") return ["--no-index", "--find-links", dir];
  const config = await run(python, ["-m", "pip", "config", "list"], { cwd: root, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" } });
  const indexes = [...config.out.matchAll(/file:\/\/\S+?(?=['\s])/g)].map((m) => m[0]);
  if (config.code !== 0 || indexes.length === 0) return [];
  return ["--index-url", indexes[0]!, ...indexes.slice(1).flatMap((url) => ["--extra-index-url", url])];
}
