/**
 * What every load worker shares: its configuration arrives as JSON on stdin
 * (10,000 ids would not fit in argv), it reports JSON lines on stdout, and it
 * summarises latencies it recorded itself, at full precision.
 */

/** One line a worker prints: `measuring` when the measured part starts, `window` per soak window, `result` at the end. */
export type WorkerEvent = { event: "measuring" } | ({ event: "window" | "result" } & LoadResult);

/** What one measured run produced. Latencies in ms. */
export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** The first few distinct error messages or statuses, so a failing run says why. */
  samples: string[];
}

/** Reads the whole of stdin as JSON. */
export async function readConfig<T>(): Promise<T> {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text) as T;
}

/** Prints one event line for the orchestrator. */
export function emit(event: WorkerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** Counts requests and keeps every latency; cheaper than a histogram at these rates and exact. */
export interface Recorder {
  ok(latencyMs: number): void;
  non2xx(latencyMs: number, status: string): void;
  error(message: string): void;
  /** Summarises what was recorded over `seconds` and starts afresh. */
  take(seconds: number): LoadResult;
}

/** Creates an empty recorder. */
export function createRecorder(): Recorder {
  let samples = new Float64Array(1 << 16);
  let n = 0;
  let errors = 0;
  let non2xx = 0;
  let why = new Set<string>();
  const push = (ms: number) => {
    if (n === samples.length) {
      const grown = new Float64Array(samples.length * 2);
      grown.set(samples);
      samples = grown;
    }
    samples[n++] = ms;
  };
  const note = (s: string) => void (why.size < 5 && why.add(s.slice(0, 200)));
  return {
    ok: push,
    non2xx(ms, status) {
      push(ms);
      non2xx++;
      note(status);
    },
    error(message) {
      errors++;
      note(message);
    },
    take(seconds) {
      const sorted = samples.subarray(0, n).sort();
      const at = (q: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(q * n))]!);
      const result = { requests: n, seconds, rps: n / seconds, p50: at(0.5), p99: at(0.99), errors, non2xx, samples: [...why] };
      n = 0;
      errors = 0;
      non2xx = 0;
      why = new Set();
      return result;
    },
  };
}

/**
 * Runs `drive` unrecorded for the warm-up, then recorded for `seconds`,
 * reporting `measuring` before and `result` after, as the orchestrator expects.
 */
export async function warmUpThenMeasure(drive: (seconds: number, recorder: Recorder | undefined) => Promise<void>, warmupSeconds: number, seconds: number): Promise<void> {
  await drive(warmupSeconds, undefined);
  const recorder = createRecorder();
  emit({ event: "measuring" });
  const t0 = performance.now();
  await drive(seconds, recorder);
  emit({ event: "result", ...recorder.take((performance.now() - t0) / 1000) });
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
