/**
 * The profile run: a fresh stack whose Gateway and Broker run under
 * `node --cpu-prof`, REST load over every connection, then the self time of
 * each process's hottest functions, so the report shows where the CPU goes.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { root, spawnNode } from "../lib.ts";
import { freePort } from "../../test/support/free-port.ts";
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

/** Which part of the stack a profile frame belongs to, for the framework profile. */
function category(frame: { functionName: string; url: string }): string {
  const { functionName: fn, url } = frame;
  if (fn === "(garbage collector)") return "garbage collection";
  if (url.includes("domexception") || url.includes("abort_controller") || url.includes("event_target") || url.includes("protocol/signals")) {
    return "abort signals: linked controllers, an AbortError (DOMException, with a stack trace) at every call's end";
  }
  if (url.includes("protocol/async-iterable") || (url.includes("@connectrpc") && ["verb", "resume", "step", "fulfill", "settle", "awaitReturn"].includes(fn))) {
    return "connect-es async-iterable pipelines (request and response bodies as async generators)";
  }
  if (url.includes("@connectrpc/connect-node")) return "connect-node: Node request and response to universal and back";
  if (url.includes("@connectrpc/connect/")) return "connect-es handler: context, headers, content type and timeout parsing, error glue";
  if (url.includes("@bufbuild/protobuf")) return "protobuf-es: JSON and binary (de)serialization";
  if (url.includes("undici")) return "WHATWG Headers (undici), built per call";
  if (url.startsWith("node:_http") || url.startsWith("node:net") || url.includes("streams") || url.includes("stream_base") || fn === "writev" || fn === "parse" || fn === "execute") {
    return "node:http and the socket (parsing, writev)";
  }
  if (fn === "runMicrotasks" || url.includes("task_queues") || url.includes("promise")) return "promise and microtask machinery";
  if (fn === "(program)") return "V8 (program)";
  return "other";
}

/** Self time by category (idle left out), as [category, share of busy time], largest first. */
export function categoryTimes(profile: CpuProfile): [string, number][] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const totals = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = byNode.get(id)!;
    if (frame.functionName === "(idle)") return;
    const dt = profile.timeDeltas[i] ?? 0;
    const c = category(frame);
    totals.set(c, (totals.get(c) ?? 0) + dt);
    busy += dt;
  });
  return [...totals].sort((a, b) => b[1] - a[1]).map(([c, t]) => [c, busy === 0 ? 0 : t / busy]);
}

/**
 * Profiles the bare Connect server (connect-node, no interceptors, a fixed
 * answer) under Connect JSON load: where a framework's call goes when nothing
 * else runs, by category.
 */
export async function runFloorProfile(options: { concurrency: number; seconds: number; warmupSeconds: number; log: (line: string) => void }): Promise<string> {
  const dir = join(root, "bench/results/profiles/floor");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const body = JSON.stringify({ credential: { strategy: { type: "header", config: { header_name: "X-API-Key" } }, credentials: { api_key: "sk_bench_0_0123456789abcdef" } } });
  const port = await freePort();
  const server = await spawnNode("bench/load/connect-floor-server.ts", [String(port)], { BENCH_BODY: body }, (l) => l.includes('"port"'), [`--cpu-prof`, `--cpu-prof-dir=${dir}`]);
  let r: Awaited<ReturnType<typeof runWorker>>;
  try {
    r = await runWorker("bench/load/http-load.ts", {
      origin: `http://127.0.0.1:${port}`, method: "POST", paths: ["/nexus.gateway.v1.GatewayService/GetToken"],
      bodies: [JSON.stringify({ connectionId: "00000000-0000-4000-8000-000000000000" })], headers: { "content-type": "application/json" },
      connections: options.concurrency, warmupSeconds: options.warmupSeconds, seconds: options.seconds,
    });
  } finally {
    await server.stop();
  }
  options.log(`profiled bare Connect server: ${Math.round(r.rps)} req/s`);
  const profiles = readdirSync(dir).map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as CpuProfile);
  const busy = (p: CpuProfile) => 1 - (selfTimes(p).find(([l]) => l === "(idle)")?.[1] ?? 0);
  const main = profiles.sort((a, b) => busy(b) * b.samples.length - busy(a) * a.samples.length)[0]!;
  const out = [`Where the bare Connect server's CPU goes (node --cpu-prof, Connect JSON POST at ${Math.round(r.rps)} req/s; self time by part, idle left out):`, "", "| Share | Part |", "|---|---|"];
  for (const [c, share] of categoryTimes(main)) out.push(`| ${(share * 100).toFixed(1)}% | ${c} |`);
  return out.join("\n");
}
