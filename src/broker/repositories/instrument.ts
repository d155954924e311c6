/**
 * Wraps every method of a repository so that each call's duration is reported
 * (nexus_db_operation_duration_seconds{repo,method}), without touching the
 * queries themselves. Failures are timed too, then rethrown unchanged.
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
        if (result instanceof Promise) return result.finally(done);
        done();
        return result;
      } catch (error) {
        done();
        throw error;
      }
    };
  }
  return wrapped as T;
}
