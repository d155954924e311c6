import { NexusError } from "../../shared/errors.ts";

/** Errors that mean the database is out of reach (not that a query is wrong): worth a retry. */
const unreachable = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT"]);

/** Turns a lost database into `unavailable`; everything else passes unchanged. */
function classify(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (unreachable.has(code) || /^(08|57P0)/.test(code))) {
    return new NexusError("unavailable", "the database is not reachable; try again shortly", { cause: error });
  }
  return error;
}

/**
 * Wraps every method of a repository so that each call's duration is reported
 * (nexus_db_operation_duration_seconds{repo,method}), without touching the
 * queries themselves, and so that a database out of reach surfaces as
 * `unavailable` (callers retry that) rather than as an internal fault.
 */
export function instrument<T extends object>(repo: string, target: T, observe: (repo: string, method: string, seconds: number) => void, now: () => number = performance.now.bind(performance)): T {
  const wrapped: Record<string, unknown> = {};
  for (const [method, value] of Object.entries(target)) {
    if (typeof value !== "function") {
      wrapped[method] = value;
      continue;
    }
    wrapped[method] = (...args: unknown[]) => {
      const started = now();
      const done = () => observe(repo, method, (now() - started) / 1000);
      try {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) {
          return result.then((v) => {
            done();
            return v;
          }, (error: unknown) => {
            done();
            throw classify(error);
          });
        }
        done();
        return result;
      } catch (error) {
        done();
        throw classify(error);
      }
    };
  }
  return wrapped as T;
}
