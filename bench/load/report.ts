/**
 * The token benchmark's report: medians over rounds, ratios against the
 * baselines of the same run, the goal checked line by line, as Markdown.
 */

/** One target at one connection count, the median of its rounds. */
export interface Measurement {
  connections: number;
  target: string;
  rounds: number;
  rps: number;
  p50: number;
  p99: number;
  /** Transport errors plus non-2xx answers, summed over rounds. */
  errors: number;
  cpuUsPerRequest: number;
  samples: string[];
}

/** One soak window: throughput and what each process held at its end. */
export interface SoakWindow {
  atSeconds: number;
  rps: number;
  p99: number;
  errors: number;
  gatewayRssMb: number;
  brokerRssMb: number;
}

/** How long one kind of change took to reach the Gateway's answers. */
export interface PropagationRow {
  kind: string;
  underLoad: boolean;
  trials: number;
  medianMs: number;
  maxMs: number;
}

/** Everything one run produced. */
export interface TokenReport {
  machine: string;
  seconds: number;
  rounds: number;
  concurrency: number;
  /** The Broker's TOKEN_CACHE_SECONDS, or "default" (10). */
  cacheSeconds?: number | string;
  /** The Gateway's GATEWAY_TOKEN_CACHE_SECONDS, or "default" (30). */
  gatewayCacheSeconds?: number | string;
  propagation?: PropagationRow[];
  /** The Gateway's cache lookups by result, as its /metrics lines. */
  gatewayCacheLookups?: string[];
  measurements: Measurement[];
  memory: { gatewayPeakMb: number; brokerPeakMb: number };
  soak?: { windows: SoakWindow[]; gatewayPeakMb: number; brokerPeakMb: number };
}

/** The median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const labels: Record<string, string> = {
  bare: "bare node:http (limit)",
  floor: "bare Connect server (framework floor)",
  rest: "REST GET /v1/token/{id}",
  connect: "Connect JSON POST",
  grpc: "gRPC (h2c)",
  data: "data path: one read + AES-GCM (limit)",
};
const ms = (x: number) => `${x.toFixed(2)} ms`;
const pct = (x: number) => `${Math.round(x * 100)}%`;
const mark = (ok: boolean) => (ok ? "met" : "**not met**");

/** Renders the report as the Markdown BENCHMARKS.md shows. */
export function markdownTable(r: TokenReport): string {
  const out: string[] = [];
  const seconds = (v: number | string | undefined, byDefault: string) => (v === undefined || v === "default" ? byDefault : v === 0 ? "off" : `${v} s`);
  const cache = `Gateway token cache ${seconds(r.gatewayCacheSeconds, "30 s")}, Broker token cache ${seconds(r.cacheSeconds, "10 s")}`;
  out.push(`Token retrieval, ${r.concurrency} concurrent clients, ${r.seconds} s per run, median of ${r.rounds} rounds, ${cache}; ${r.machine}`, "");
  out.push("| Connections | Path | req/s | vs bare | p50 | p99 | Errors | CPU per request |", "|---|---|---|---|---|---|---|---|");
  const at = (n: number, t: string) => r.measurements.find((m) => m.connections === n && m.target === t);
  const counts = [...new Set(r.measurements.map((m) => m.connections))];
  for (const n of counts) {
    const bare = at(n, "bare");
    for (const m of r.measurements.filter((x) => x.connections === n)) {
      const ratio = bare === undefined ? "" : pct(m.rps / bare.rps);
      out.push(`| ${n} | ${labels[m.target] ?? m.target} | ${Math.round(m.rps)} | ${ratio} | ${ms(m.p50)} | ${ms(m.p99)} | ${m.errors} | ${Math.round(m.cpuUsPerRequest)} µs |`);
    }
  }
  out.push("", `Peak resident memory after every run: Gateway ${Math.round(r.memory.gatewayPeakMb)} MB, Broker ${Math.round(r.memory.brokerPeakMb)} MB.`);
  if (r.gatewayCacheLookups !== undefined) {
    const lookups = r.gatewayCacheLookups.map((l) => /result="(\w+)"\} (\d+)/.exec(l)).filter((m) => m !== null).map((m) => `${m![1]} ${m![2]}`);
    out.push(`Gateway cache lookups over the whole run: ${lookups.join(", ")}.`);
  }
  out.push("", "Goal, per connection count:", "");
  for (const n of counts) {
    const bare = at(n, "bare");
    const floor = at(n, "floor");
    const rest = at(n, "rest");
    if (bare === undefined || rest === undefined) continue;
    const parts = [
      `REST at ${pct(rest.rps / bare.rps)} of bare (goal ≥ 30%): ${mark(rest.rps >= 0.3 * bare.rps)}`,
      `p99 ${ms(rest.p99)} (goal < 10 ms): ${mark(rest.p99 < 10)}`,
      `errors ${rest.errors}: ${mark(rest.errors === 0)}`,
    ];
    for (const t of ["connect", "grpc"] as const) {
      const m = at(n, t);
      if (m !== undefined && floor !== undefined) parts.push(`${labels[t]} at ${pct(m.rps / floor.rps)} of the bare Connect server (goal ≥ 100%): ${mark(m.rps >= floor.rps)}`);
    }
    out.push(`- ${n} connections: ${parts.join("; ")}`);
  }
  const peak = Math.max(r.memory.gatewayPeakMb, r.memory.brokerPeakMb);
  out.push(`- memory under 150 MB per process: ${mark(peak < 150)}`);
  if (r.propagation !== undefined && r.propagation.length > 0) {
    out.push("", "How long a change takes to reach the Gateway's answers (from the change's acknowledgement to the first read that reflects it):", "");
    out.push("| Change | While | Trials | Median | Max | Within 1 s |", "|---|---|---|---|---|---|");
    for (const p of r.propagation) {
      out.push(`| ${p.kind} | ${p.underLoad ? "REST load" : "idle"} | ${p.trials} | ${ms(p.medianMs)} | ${ms(p.maxMs)} | ${mark(p.maxMs < 1000)} |`);
    }
  }
  if (r.soak !== undefined && r.soak.windows.length > 0) {
    const w = r.soak.windows;
    out.push("", `Soak: REST over every connection for ${w[w.length - 1]!.atSeconds} s.`, "");
    out.push("| At | req/s | p99 | Errors | Gateway RSS | Broker RSS |", "|---|---|---|---|---|---|");
    for (const x of w) out.push(`| ${x.atSeconds} s | ${Math.round(x.rps)} | ${ms(x.p99)} | ${x.errors} | ${Math.round(x.gatewayRssMb)} MB | ${Math.round(x.brokerRssMb)} MB |`);
    out.push("", `Peak during the soak: Gateway ${Math.round(r.soak.gatewayPeakMb)} MB, Broker ${Math.round(r.soak.brokerPeakMb)} MB.`);
  }
  return out.join("\n");
}
