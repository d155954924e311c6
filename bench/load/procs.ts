/**
 * Process plumbing for the token benchmark: CPU and memory read from /proc,
 * the PostgreSQL server's processes found from its postmaster, load workers
 * run as children that report JSON lines, and a registry that kills every
 * child however the run ends.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { LoadResult, WorkerEvent } from "./worker-io.ts";

/** The checkout, where every benchmark process runs. */
export const root = new URL("../../", import.meta.url).pathname;

// USER_HZ is 100 on every Linux this runs on (bench/lib.ts assumes the same).
const ticksPerSecond = 100;
const live = new Set<ChildProcess>();

/** Remembers `child` so {@linkcode killAll} reaches it; forgets it when it exits. */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** Sends `signal` to every tracked child still running. Synchronous, so it works inside an exit handler. */
export function killAll(signal: NodeJS.Signals = "SIGKILL"): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
}

function statFields(pid: number): string[] | undefined {
  try {
    // The command name may hold spaces; everything after its closing ") " is fixed-format.
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(") ") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of `pid`; with `reaped`, also of its children that have exited. 0 once it is gone. */
export function cpuSeconds(pid: number, reaped = false): number {
  const f = statFields(pid);
  if (f === undefined) return 0;
  const own = Number(f[11]) + Number(f[12]);
  return (reaped ? own + Number(f[13]) + Number(f[14]) : own) / ticksPerSecond;
}

/** The parent pid of `pid`. */
export function parentOf(pid: number): number {
  return Number(statFields(pid)?.[1] ?? 0);
}

/** Live children of `ppid`, found by scanning /proc. */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (Number.isInteger(pid) && parentOf(pid) === ppid) out.push(pid);
  }
  return out;
}

/**
 * CPU seconds of a whole PostgreSQL server: the postmaster, every live
 * backend and worker, and (through the postmaster's reaped counters) every
 * backend that exited, so connections that come and go are still counted.
 */
export function postgresCpuSeconds(postmaster: number): number {
  return childrenOf(postmaster).reduce((sum, pid) => sum + cpuSeconds(pid), cpuSeconds(postmaster, true));
}

/** A field of /proc/<pid>/status in MB (VmRSS now, VmHWM peak); 0 once the process is gone. */
export function memoryMb(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Callbacks of {@linkcode runWorker}, called as the worker reports. */
export interface WorkerHooks {
  /** The warm-up is over and the measured part starts: sample counters now. */
  onMeasuring?(workerPid: number): void;
  /** A soak window ended. */
  onWindow?(window: LoadResult): void;
  /** The measured part ended: sample counters again. */
  onResult?(): void;
}

/** A worker's final result, plus the CPU seconds the worker itself spent measuring. */
export type WorkerOutcome = LoadResult & { workerCpuSeconds: number };

/** Runs `node --import tsx <script>` with `config` on stdin and resolves with its `result` line. */
export function runWorker(script: string, config: unknown, hooks: WorkerHooks = {}): Promise<WorkerOutcome> {
  const child = track(spawn(process.execPath, ["--import", "tsx", script], { cwd: root, stdio: ["pipe", "pipe", "pipe"] }));
  const pid = child.pid!;
  let cpuAtStart = 0;
  let stderr = "";
  let pending = "";
  let result: WorkerOutcome | undefined;
  child.stderr!.on("data", (d: Buffer) => void (stderr = (stderr + d).slice(-4000)));
  child.stdout!.on("data", (d: Buffer) => {
    pending += d;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines.filter((l) => l.startsWith("{"))) {
      const e = JSON.parse(line) as WorkerEvent;
      if (e.event === "measuring") {
        cpuAtStart = cpuSeconds(pid);
        hooks.onMeasuring?.(pid);
      } else if (e.event === "window") {
        hooks.onWindow?.(e);
      } else {
        hooks.onResult?.();
        const { event: _, ...r } = e;
        result = { ...r, workerCpuSeconds: cpuSeconds(pid) - cpuAtStart };
      }
    }
  });
  child.stdin!.end(JSON.stringify(config));
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`${script} exited with ${code} before reporting: ${stderr}`));
    });
  });
}
