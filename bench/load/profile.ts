/**
 * The profile run: a fresh stack whose Gateway and Broker run under
 * `node --cpu-prof`, REST load over every connection, then the self time of
 * each process's hottest functions, so the report shows where the CPU goes.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { root } from "../lib.ts";
import { startTokenStack } from "../token-stack.ts";
import { runWorker } from "./procs.ts";

/** Options of {@linkcode runProfile}. */
export interface ProfileOptions {
  connections: number;
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
  built?: boolean;
  log: (line: string) => void;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function of one .cpuprofile, largest first, as [label, share of all samples]. */
export function selfTimes(profile: CpuProfile): [string, number][] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const totals = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const frame = byNode.get(id)!;
    const dt = profile.timeDeltas[i] ?? 0;
    // Paths relative to the checkout (or to node_modules) keep the table readable.
    const where = frame.url === "" ? "" : ` ${frame.url.replace(/^file:\/\//, "").replace(root, "").replace(/^.*node_modules\//, "")}:${frame.lineNumber + 1}`;
    const label = `${frame.functionName || "(anonymous)"}${where}`;
    totals.set(label, (totals.get(label) ?? 0) + dt);
    all += dt;
  });
  return [...totals].sort((a, b) => b[1] - a[1]).map(([label, t]) => [label, all === 0 ? 0 : t / all]);
}

/** Runs the profiled stack and returns Markdown: the top 15 self-time entries of the Gateway and the Broker. */
export async function runProfile(options: ProfileOptions): Promise<string> {
  const dir = join(root, "bench/results/profiles");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const stack = await startTokenStack({
    connections: options.connections, log: options.log, built: options.built ?? false,
    // One directory per service: tsx's loader thread writes a profile of its own next to the main thread's.
    nodeArgs: { gateway: `--cpu-prof --cpu-prof-dir=${join(dir, "gateway")}`, broker: `--cpu-prof --cpu-prof-dir=${join(dir, "broker")}` },
  });
  try {
    const r = await runWorker("bench/load/http-load.ts", {
      origin: stack.gatewayOrigin, method: "GET", paths: stack.ids.map((id) => `/v1/token/${id}`),
      headers: { authorization: `Bearer ${stack.agentKey}` }, connections: options.concurrency,
      warmupSeconds: options.warmupSeconds, seconds: options.seconds,
    });
    options.log(`profiled run: ${Math.round(r.rps)} req/s, p99 ${r.p99.toFixed(2)} ms`);
  } finally {
    // The profiles are written when the processes exit.
    await stack.stop();
  }
  const out: string[] = [];
  for (const service of ["gateway", "broker"]) {
    // The main thread is the busiest of the service's profiles.
    const profiles = readdirSync(join(dir, service)).map((f) => JSON.parse(readFileSync(join(dir, service, f), "utf8")) as CpuProfile);
    const busiest = profiles.map((p) => ({ p, busy: 1 - (selfTimes(p).find(([l]) => l === "(idle)")?.[1] ?? 0) })).sort((a, b) => b.busy - a.busy)[0];
    if (busiest === undefined) throw new Error(`no profile written for the ${service}`);
    const top = selfTimes(busiest.p).slice(0, 15);
    out.push(`Top self time, ${service} main thread (node --cpu-prof, REST load over ${options.connections} connections):`, "");
    out.push("| Self | Function |", "|---|---|");
    for (const [label, share] of top) out.push(`| ${(share * 100).toFixed(1)}% | \`${label}\` |`);
    out.push("");
  }
  out.push(`Profiles: ${dir} (open in Chrome DevTools or speedscope).`);
  return out.join("\n");
}
