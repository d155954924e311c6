/** Shared pieces of the benchmarks: a private PostgreSQL, child processes and their resource use. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigrations } from "../src/broker/db/migrate.ts";
import { createSql } from "../src/broker/db/sql.ts";
import { startEmbeddedPostgres } from "../src/runtime/node/embedded-postgres.ts";
import { loadMigrations } from "../src/runtime/node/load-migrations.ts";
import { freePort } from "../test/support/free-port.ts";
import { cpuSeconds, memoryMb, root } from "./load/procs.ts";

export { root } from "./load/procs.ts";

/** A private PostgreSQL for one benchmark run, its data in a new directory under `parentDir`. */
export async function startBenchPostgres(parentDir = tmpdir()): Promise<{ url(db: string): string; createDatabase(name: string): Promise<string>; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(parentDir, "nexus-bench-"));
  const port = await freePort();
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, "data"), port, persistent: false, fast: true });
  return {
    url: pg.url,
    async createDatabase(name) {
      await pg.ensureDatabase(name);
      const sql = createSql(pg.url(name), { max: 1 });
      await applyMigrations(sql, await loadMigrations());
      await sql.end({ timeout: 5 });
      return pg.url(name);
    },
    async stop() {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A child process with its resource accounting. */
export interface Child {
  readonly process: ChildProcess;
  /** Peak resident memory so far, in MB (VmHWM). */
  peakRssMb(): number;
  /** User + system CPU seconds so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * Starts `node [nodeArgs] --import tsx <script> ...args` with `env` (a `.mjs` bundle without tsx);
 * resolves when `ready` says so (a printed line, or a probe).
 */
export async function spawnNode(
  script: string, args: string[], env: Record<string, string>, ready: ((line: string) => boolean) | { healthz: number }, nodeArgs: string[] = [],
): Promise<Child> {
  // A prebuilt .mjs runs on plain Node; TypeScript sources go through tsx.
  const loader = script.endsWith(".mjs") ? [] : ["--import", "tsx"];
  const child = spawn(process.execPath, [...nodeArgs, ...loader, script, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d;
      if (typeof ready === "function" && log.split("\n").some(ready)) resolve();
    };
    if (typeof ready !== "function") {
      void until(async () => ((await fetch(`http://127.0.0.1:${ready.healthz}/healthz`).catch(() => undefined))?.ok ? true : undefined), 60_000, 100)
        .then(() => resolve(), reject);
    }
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}: ${log.slice(-2000)}`)));
  });
  // Keep draining output so the child never blocks on a full pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  const pid = child.pid!;
  return {
    process: child,
    peakRssMb: () => memoryMb(pid, "VmHWM"),
    cpuSeconds: () => cpuSeconds(pid),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}

/** One line describing the machine, for the results table. */
export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${loadavg()[0]!.toFixed(2)}`;
}

/** Waits until `probe` answers, polling every `everyMs`. */
export async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
