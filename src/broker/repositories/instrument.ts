import { NexusError } from "../../shared/errors.ts";
import { noTracing, type Tracing } from "../../shared/tracing.ts";

/** Errors that mean the database is out of reach (not that a query is wrong): worth a retry. */
const unreachable = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT"]);

/**
 * Text PostgreSQL cannot store: NUL in text (22021 character_not_in_repertoire) or
 * in jsonb (22P05 untranslatable_character). The control-character rule refuses
 * these at the edge; this keeps any that slip through a 4xx rather than a 500.
 */
const unstorableText = new Set(["22021", "22P05"]);

/** Turns a lost database into `unavailable` and unstorable text into `invalid_argument`; everything else passes unchanged. */
function classify(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (unreachable.has(code) || /^(08|57P0)/.test(code))) {
    return new NexusError("unavailable", "the database is not reachable; try again shortly", { cause: error });
  }
  if (typeof code === "string" && unstorableText.has(code)) {
    return new NexusError("invalid_argument", "a text value holds a character that cannot be stored (such as NUL); remove control characters", { cause: error });
  }
  return error;
}

/**
 * Wraps every method of a repository so that each call's duration is reported
 * (nexus_db_operation_duration_seconds{repo,method}), without touching the
 * queries themselves, and so that a database out of reach surfaces as
 * `unavailable` (callers retry that) and unstorable text as `invalid_argument`,
 * rather than as internal faults. With tracing on, each call inside a traced
 * request is a span (`db <repo>.<method>`: the repository operation and its
 * SQL, never the parameters).
 */
export function instrument<T extends object>(
  repo: string, target: T, observe: (repo: string, method: string, seconds: number) => void,
  now: () => number = performance.now.bind(performance), tracing: Tracing = noTracing,
): T {
  const wrapped: Record<string, unknown> = {};
  for (const [method, value] of Object.entries(target)) {
    if (typeof value !== "function") {
      wrapped[method] = value;
      continue;
    }
    const call = (...args: unknown[]) => {
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
    const attributes = { "db.system": "postgresql", "db.system.name": "postgresql", "db.operation.name": method, "nexus.db.repo": repo };
    wrapped[method] = !tracing.enabled ? call : (...args: unknown[]) => {
      let result: unknown;
      let thrown: { error: unknown } | undefined;
      // The span's function runs at once, so `result` is known on return: a synchronous method stays synchronous.
      const spanned = tracing.span(`db ${repo}.${method}`, "client", attributes, async () => {
        try {
          result = call(...args);
        } catch (error) {
          thrown = { error };
          throw error;
        }
        return await result;
      });
      if (result instanceof Promise) return spanned;
      spanned.catch(() => {});
      if (thrown !== undefined) throw thrown.error;
      return result;
    };
  }
  return wrapped as T;
}
