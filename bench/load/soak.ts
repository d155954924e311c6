/**
 * The soak: REST load over every connection for minutes, in windows, with
 * each window's throughput next to the resident memory of the Gateway and
 * the Broker at its end, so growth (or its absence) is visible.
 */
import type { TokenStack } from "../token-stack.ts";
import { memoryMb, runWorker } from "./procs.ts";
import type { SoakWindow } from "./report.ts";

/** Options of {@linkcode runSoak}. */
export interface SoakOptions {
  seconds: number;
  concurrency: number;
  windowSeconds?: number;
  log: (line: string) => void;
}

/** Drives REST GET /v1/token over all of `stack.ids` for `seconds`, sampling memory per window. */
export async function runSoak(stack: TokenStack, options: SoakOptions): Promise<{ windows: SoakWindow[]; gatewayPeakMb: number; brokerPeakMb: number }> {
  const windowSeconds = options.windowSeconds ?? 30;
  const windows: SoakWindow[] = [];
  const gateway = stack.gateway.process.pid!;
  const broker = stack.broker.process.pid!;
  let at = 0;
  options.log(`soak: ${options.seconds} s of REST load over ${stack.ids.length} connections`);
  await runWorker("bench/load/http-load.ts", {
    origin: stack.gatewayOrigin, method: "GET", paths: stack.ids.map((id) => `/v1/token/${id}`),
    headers: { authorization: `Bearer ${stack.agentKey}` }, connections: options.concurrency,
    warmupSeconds: 2, seconds: options.seconds, windowSeconds,
  }, {
    onWindow(w) {
      at += w.seconds;
      const window = {
        atSeconds: Math.round(at), rps: w.rps, p99: w.p99, errors: w.errors + w.non2xx,
        gatewayRssMb: memoryMb(gateway, "VmRSS"), brokerRssMb: memoryMb(broker, "VmRSS"),
      };
      windows.push(window);
      options.log(`soak ${window.atSeconds} s: ${Math.round(window.rps)} req/s, p99 ${window.p99.toFixed(2)} ms, Gateway ${Math.round(window.gatewayRssMb)} MB, Broker ${Math.round(window.brokerRssMb)} MB`);
    },
  });
  return { windows, gatewayPeakMb: memoryMb(gateway, "VmHWM"), brokerPeakMb: memoryMb(broker, "VmHWM") };
}
