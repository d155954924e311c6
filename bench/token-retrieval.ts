/**
 * Token retrieval: how fast an agent gets a credential from the Gateway,
 * against two limits measured in the same run and alternated with it:
 *
 *   bare   a node:http server answering the same JSON bytes (one Node process serving HTTP)
 *   floor  a connect-node server answering the same message, nothing else (what Connect itself costs)
 *   data   the Broker's own primary-key reads plus the AES-GCM open, no RPC (the data path)
 *
 * and three ways in: REST GET /v1/token/{id}, Connect JSON POST and gRPC over h2c,
 * for 1, 10 and 10,000 distinct connections. Load comes from separate
 * processes (autocannon, a connect-node gRPC loop). CPU per request counts
 * the Gateway, the Broker and every PostgreSQL process.
 *
 * After the throughput runs, how long each kind of change (revocation, a
 * disabled agent, a rotated key, a rewritten credential, a revoked session)
 * takes to reach the Gateway's answers, idle and under REST load.
 *
 *   npx tsx bench/token-retrieval.ts [--duration 10] [--rounds 3] [--connections 1,10,10000]
 *     [--concurrency 32] [--only rest,grpc,...] [--soak 300] [--profile] [--built] [--cache-seconds 0]
 *     [--propagation-trials 5] [--gateway-cache-seconds 0]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { machine, root } from "./lib.ts";
import { killAll, memoryMb, postgresCpuSeconds, runWorker, cpuSeconds, type WorkerOutcome } from "./load/procs.ts";
import { markdownTable, type Measurement, median } from "./load/report.ts";
import { runFloorProfile, runProfile } from "./load/profile.ts";
import { measurePropagation, type PropagationResult } from "./load/propagation.ts";
import { runSoak } from "./load/soak.ts";
import { startTokenStack, type TokenStack } from "./token-stack.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "1,10,10000" },
    concurrency: { type: "string", default: "32" },
    only: { type: "string", default: "bare,floor,rest,connect,grpc,data" },
    built: { type: "boolean", default: false },
    "cache-seconds": { type: "string" },
    "gateway-cache-seconds": { type: "string" },
    "propagation-trials": { type: "string", default: "5" },
    soak: { type: "string", default: "0" },
    profile: { type: "boolean", default: false },
    "profile-floor": { type: "boolean", default: false },
  },
});
const seconds = Number(values.duration);
const warmupSeconds = Number(values.warmup);
const rounds = Number(values.rounds);
const counts = values.connections.split(",").map(Number);
const concurrency = Number(values.concurrency);
const targets = values.only.split(",") as Target[];
const log = (line: string) => process.stderr.write(`${line}\n`);

type Target = "bare" | "floor" | "rest" | "connect" | "grpc" | "data";
/** One measured run: CPU per request in total (serving processes only) and by process, in µs. */
type Run = WorkerOutcome & { cpuUsPerRequest: number; cpuUs: Record<string, number> };
const known: Target[] = ["bare", "floor", "rest", "connect", "grpc", "data"];
for (const t of targets) if (!known.includes(t)) throw new Error(`--only: unknown target ${t} (known: ${known.join(", ")})`);

// However the run ends, no server or load worker outlives it.
process.once("exit", () => killAll());
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

/** Runs one target's load worker against `ids` and measures the processes that served it. */
async function measure(stack: TokenStack, target: Target, ids: string[]): Promise<Run> {
  const auth = { authorization: `Bearer ${stack.agentKey}` };
  const paths = ids.map((id) => `/v1/token/${id}`);
  // The Gateway's cache is measured in its steady state, as agents reading their credentials again and again
  // see it: the warm-up reads every connection once (at 800 reads a second or more) before the measured part.
  const gatewayTarget = target === "rest" || target === "connect" || target === "grpc";
  const timing = { warmupSeconds: gatewayTarget ? Math.max(warmupSeconds, Math.ceil(ids.length / 800)) : warmupSeconds, seconds };
  // CPU seconds of each process that does the serving, read from /proc around the measured part.
  const sample = (): Record<string, number> =>
    target === "bare" ? { server: cpuSeconds(stack.bare.process.pid!) }
    : target === "floor" ? { server: cpuSeconds(stack.connectFloor.process.pid!) }
    : target === "data" ? { postgres: postgresCpuSeconds(stack.postmaster) }
    : { gateway: cpuSeconds(stack.gateway.process.pid!), broker: cpuSeconds(stack.broker.process.pid!), postgres: postgresCpuSeconds(stack.postmaster) };
  let before: Record<string, number> = {};
  let after: Record<string, number> = {};
  const hooks = {
    onMeasuring() {
      before = sample();
    },
    onResult() {
      after = sample();
    },
  };
  let outcome: WorkerOutcome;
  if (target === "bare" || target === "rest") {
    const origin = target === "bare" ? stack.bareOrigin : stack.gatewayOrigin;
    outcome = await runWorker("bench/load/http-load.ts", { origin, method: "GET", paths, headers: auth, connections: concurrency, ...timing }, hooks);
  } else if (target === "connect" || target === "floor") {
    outcome = await runWorker("bench/load/http-load.ts", {
      origin: target === "floor" ? stack.connectFloorOrigin : stack.gatewayOrigin, method: "POST", paths: ids.map(() => "/nexus.gateway.v1.GatewayService/GetToken"),
      bodies: ids.map((id) => JSON.stringify({ connectionId: id })), headers: { ...auth, "content-type": "application/json" },
      connections: concurrency, ...timing,
    }, hooks);
  } else if (target === "grpc") {
    outcome = await runWorker("bench/load/grpc-load.ts", { origin: stack.gatewayOrigin, ids, agentKey: stack.agentKey, concurrency, ...timing }, hooks);
  } else {
    outcome = await runWorker("bench/load/data-path.ts", { databaseUrl: stack.databaseUrl, encryptionKey: stack.encryptionKey, ids, concurrency, ...timing }, hooks);
  }
  const perRequest = (cpu: number) => (outcome.requests === 0 ? 0 : (cpu * 1e6) / outcome.requests);
  const cpuUs: Record<string, number> = {};
  for (const k of Object.keys(after)) cpuUs[k] = perRequest(after[k]! - before[k]!);
  // The data path's own work happens in its worker, so its CPU is part of the cost.
  if (target === "data") cpuUs.worker = perRequest(outcome.workerCpuSeconds);
  else cpuUs.load = perRequest(outcome.workerCpuSeconds);
  const cpuUsPerRequest = Object.entries(cpuUs).reduce((sum, [k, v]) => (k === "load" ? sum : sum + v), 0);
  return { ...outcome, cpuUsPerRequest, cpuUs };
}

/** Propagation idle, then while REST load over every connection keeps the Gateway and the Broker busy. */
async function propagationRuns(stack: TokenStack, trials: number): Promise<PropagationResult[]> {
  if (trials <= 0) return [];
  const idle = await measurePropagation(stack, { trials, underLoad: false, log });
  let loadDone = false;
  const load = runWorker("bench/load/http-load.ts", {
    origin: stack.gatewayOrigin, method: "GET", paths: stack.ids.map((id) => `/v1/token/${id}`),
    headers: { authorization: `Bearer ${stack.agentKey}` }, connections: concurrency, warmupSeconds: 2, seconds: 60,
  }).finally(() => (loadDone = true));
  // Past the load's warm-up, so every trial runs under it.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const busy = await measurePropagation(stack, { trials, underLoad: true, log });
  if (loadDone) throw new Error("the REST load ended before the propagation trials under load did; raise its duration");
  const loaded = await load;
  log(`propagation under load: REST at ${Math.round(loaded.rps)} req/s meanwhile`);
  return [...idle, ...busy];
}

async function main(): Promise<void> {
  if (values["profile-floor"]) {
    const summary = await runFloorProfile({ concurrency, seconds, warmupSeconds, log });
    mkdirSync(`${root}bench/results`, { recursive: true });
    writeFileSync(`${root}bench/results/floor-profile.md`, `${summary}\n`);
    process.stdout.write(`${summary}\n`);
    return;
  }
  if (values.profile) {
    const summary = await runProfile({ connections: Math.max(...counts), concurrency, seconds, warmupSeconds, built: values.built, log });
    mkdirSync(`${root}bench/results`, { recursive: true });
    writeFileSync(`${root}bench/results/token-profile.md`, `${summary}\n`);
    process.stdout.write(`${summary}\n`);
    return;
  }
  const cacheSeconds = values["cache-seconds"] === undefined ? undefined : Number(values["cache-seconds"]);
  const gatewayCacheSeconds = values["gateway-cache-seconds"] === undefined ? undefined : Number(values["gateway-cache-seconds"]);
  const stack = await startTokenStack({
    connections: Math.max(...counts), built: values.built, log,
    ...(cacheSeconds === undefined ? {} : { cacheSeconds }), ...(gatewayCacheSeconds === undefined ? {} : { gatewayCacheSeconds }),
  });
  const measurements: Measurement[] = [];
  try {
    for (const n of counts) {
      const ids = stack.ids.slice(0, n);
      const runs = new Map<Target, Run[]>();
      for (let round = 0; round < rounds; round++) {
        // Rotate the order each round so no target always runs on a warmer (or hotter) machine.
        const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
        for (const target of order) {
          const r = await measure(stack, target, ids);
          log(`${n} connections, round ${round + 1}, ${target}: ${Math.round(r.rps)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.errors + r.non2xx} errors, ${Math.round(r.cpuUsPerRequest)} µs CPU/req (${Object.entries(r.cpuUs).map(([k, v]) => `${k} ${Math.round(v)}`).join(", ")})${r.samples.length > 0 ? ` (${r.samples.join("; ")})` : ""}`);
          runs.set(target, [...(runs.get(target) ?? []), r]);
        }
      }
      for (const [target, rs] of runs) {
        measurements.push({
          connections: n, target, rounds: rs.length,
          rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)),
          errors: rs.reduce((s, r) => s + r.errors + r.non2xx, 0), cpuUsPerRequest: median(rs.map((r) => r.cpuUsPerRequest)),
          samples: [...new Set(rs.flatMap((r) => r.samples))],
        });
      }
    }
    const memory = { gatewayPeakMb: memoryMb(stack.gateway.process.pid!, "VmHWM"), brokerPeakMb: memoryMb(stack.broker.process.pid!, "VmHWM") };
    const cacheLookups = (await stack.brokerMetrics()).split("\n").filter((l) => l.startsWith("nexus_token_cache_lookups_total"));
    const gatewayCacheLookups = (await stack.gatewayMetrics()).split("\n").filter((l) => l.startsWith("nexus_gateway_token_cache_lookups_total"));
    const propagation = await propagationRuns(stack, Number(values["propagation-trials"]));
    const soak = Number(values.soak) > 0 ? await runSoak(stack, { seconds: Number(values.soak), concurrency, log }) : undefined;
    const result = {
      machine: machine(), seconds, rounds, concurrency, connections: stack.ids.length, cacheSeconds: cacheSeconds ?? "default",
      gatewayCacheSeconds: gatewayCacheSeconds ?? "default", measurements, memory, propagation, soak, cacheLookups, gatewayCacheLookups,
    };
    mkdirSync(`${root}bench/results`, { recursive: true });
    writeFileSync(`${root}bench/results/token-retrieval${cacheSeconds === undefined ? "" : `-cache-${cacheSeconds}`}.json`, JSON.stringify(result, null, 2));
    process.stdout.write(`${markdownTable(result)}\n`);
  } finally {
    await stack.stop();
  }
}

await main();
process.exit(0);
