/**
 * The `nexus` command in process, for tests: a CliIo that records what the
 * command writes (each stream, and both in the order written, as a terminal
 * shows them), with the environment, clock and Ctrl-C under the test's control.
 *
 *   const r = await nexus(["agents", "list", "--json"], { env: cliEnv(stack) });
 *   assert.equal(r.code, 0, r.stderr);
 */
import { readFile } from "node:fs/promises";
import type { CliIo } from "../../src/cli/cli-io.ts";
import { runCli } from "../../src/cli/run-cli.ts";
import type { TestStack } from "./stack.ts";

/** What one run wrote, and its exit code. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Both streams interleaved in the order written. */
  readonly output: string;
}

/** Options of {@linkcode fakeCliIo}. */
export interface FakeCliIoOptions {
  env?: Record<string, string | undefined>;
  /** @default false */
  color?: boolean;
  /** @default false */
  interactive?: boolean;
  /** Added to the wall clock, to fake a skewed machine. @default 0 */
  clockOffsetMs?: number;
  /** Aborts the run's `interrupted` signal (Ctrl-C). */
  interrupt?: AbortSignal;
  /** The answer to every confirmation. @default false */
  confirm?: boolean;
  fetch?: typeof fetch;
  /** Called with every chunk written to stdout, as it is written. */
  onStdout?: (text: string) => void;
}

/** A recording CliIo. */
export function fakeCliIo(options: FakeCliIoOptions = {}): CliIo & { readonly out: string[]; readonly err: string[]; readonly both: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const both: string[] = [];
  const interrupted = options.interrupt ?? new AbortController().signal;
  return {
    out, err, both,
    stdout(text) {
      out.push(text);
      both.push(text);
      options.onStdout?.(text);
    },
    stderr(text) {
      err.push(text);
      both.push(text);
    },
    env: options.env ?? {},
    interactive: options.interactive ?? false,
    color: options.color ?? false,
    readFile: (path) => readFile(path, "utf8"),
    confirm: async () => options.confirm ?? false,
    now: () => Date.now() + (options.clockOffsetMs ?? 0),
    sleep: (ms, signal) => new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    }),
    interrupted,
    fetch: options.fetch ?? globalThis.fetch,
  };
}

/** Runs `nexus <argv>` in process. */
export async function nexus(argv: readonly string[], options: FakeCliIoOptions = {}): Promise<CliRun> {
  const io = fakeCliIo(options);
  const code = await runCli(argv, io);
  return { code, stdout: io.out.join(""), stderr: io.err.join(""), output: io.both.join("") };
}

/** The environment that points the command at a stack's Broker with its admin key. */
export function cliEnv(stack: Pick<TestStack, "broker" | "adminKey">): Record<string, string> {
  return { NEXUS_BROKER_URL: stack.broker.url, NEXUS_ADMIN_KEY: stack.adminKey };
}
