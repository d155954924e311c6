// Entry point of the `nexus` command on Node (bin/nexus.mjs runs it in a
// checkout, bin/nexus.js of @nexus-broker/cli once installed): the process's
// arguments, environment, terminal and files, handed to runCli.
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline/promises";
import { runCli } from "../../cli/run-cli.ts";

/**
 * The version of the package.json nearest above this file, as Node finds a
 * module's package: the repository's in a checkout, @nexus-broker/cli's once
 * installed (its build gives it the repository's).
 */
function packageVersion(): string | undefined {
  for (let dir = new URL("./", import.meta.url); ; dir = new URL("../", dir)) {
    const file = new URL("package.json", dir);
    if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as { version?: string }).version;
    if (dir.pathname === "/") return undefined;
  }
}

const interrupted = new AbortController();
process.once("SIGINT", () => interrupted.abort());
const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
const code = await runCli(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  interactive,
  color: process.stdout.isTTY === true && process.env.NO_COLOR === undefined,
  readFile: (path) => readFile(path, "utf8"),
  async confirm(question) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
    } finally {
      rl.close();
    }
  },
  now: Date.now,
  sleep: (ms, signal) => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  }),
  interrupted: interrupted.signal,
  fetch: globalThis.fetch,
  version: packageVersion(),
});
process.exitCode = code;
