/**
 * HTTP/1.1 load worker: autocannon against one origin, each request going to
 * the next path (and body) of a list, round-robin across all connections, so
 * every id is read at the same rate. Runs in its own process so it never
 * shares an event loop with a server it measures.
 *
 *   node --import tsx bench/load/http-load.ts < config.json
 */
import autocannon, { type AutocannonRequest } from "autocannon";
import { createRecorder, emit, readConfig, type Recorder } from "./worker-io.ts";

/** The worker's stdin. */
export interface HttpLoadConfig {
  origin: string;
  method: "GET" | "POST";
  /** Request paths, one per id. */
  paths: string[];
  /** Request bodies aligned with `paths`, for POST. */
  bodies?: string[];
  headers: Record<string, string>;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  /** When set, reports a `window` line every this many seconds (soak mode). */
  windowSeconds?: number;
}

const config = await readConfig<HttpLoadConfig>();
let next = 0;
const request: AutocannonRequest = {
  method: config.method,
  headers: config.headers,
  // One shared counter, so the 32 sockets together walk the ids in order.
  setupRequest(req) {
    const i = next++ % config.paths.length;
    req.path = config.paths[i]!;
    if (config.bodies !== undefined) req.body = config.bodies[i]!;
    return req;
  },
};

/** Runs autocannon for `seconds`, feeding every outcome to `recorders`. */
async function drive(seconds: number, recorders: Recorder[]): Promise<void> {
  const instance = autocannon({ url: config.origin, connections: config.connections, duration: seconds, timeout: 10, requests: [request] });
  instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    for (const r of recorders) status >= 200 && status < 300 ? r.ok(ms) : r.non2xx(ms, `HTTP ${status}`);
  });
  instance.on("reqError", (error: Error) => {
    for (const r of recorders) r.error(error.message);
  });
  await instance;
}

await drive(config.warmupSeconds, []);
const total = createRecorder();
emit({ event: "measuring" });
const t0 = performance.now();
if (config.windowSeconds === undefined) {
  await drive(config.seconds, [total]);
} else {
  const window = createRecorder();
  for (let left = config.seconds; left > 0; left -= config.windowSeconds) {
    const w0 = performance.now();
    await drive(Math.min(left, config.windowSeconds), [total, window]);
    emit({ event: "window", ...window.take((performance.now() - w0) / 1000) });
  }
}
emit({ event: "result", ...total.take((performance.now() - t0) / 1000) });
