import type { HealthSource, ServingStatus } from "../../shared/server/health-service.ts";
import type { Sql } from "../db/sql.ts";

/**
 * Readiness of the Broker: SERVING while PostgreSQL answers. The answer is
 * cached for a second so that probes cannot load the database.
 */
export function createDatabaseHealth(sql: Sql, now: () => number, timeoutMs = 2000): HealthSource {
  let cached: { at: number; status: Promise<ServingStatus> } | undefined;
  async function ping(): Promise<ServingStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<ServingStatus>((resolve) => (timer = setTimeout(() => resolve("NOT_SERVING"), timeoutMs)));
    const query = sql`select 1`.then((): ServingStatus => "SERVING", (): ServingStatus => "NOT_SERVING");
    try {
      return await Promise.race([query, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
  return {
    check() {
      const t = now();
      if (cached === undefined || t - cached.at > 1000) cached = { at: t, status: ping() };
      return cached.status;
    },
  };
}
