import postgres from "postgres";

/** The postgres.js client the repositories take; int8 columns come back as bigint. */
export type Sql = postgres.Sql<{ bigint: bigint }>;

/** Options of {@linkcode createSql}. */
export interface SqlOptions {
  /** Pool size. @default 10 */
  max?: number;
  /** Shown in pg_stat_activity. @default "nexus" */
  applicationName?: string;
}

/**
 * Creates the connection pool. Columns come back camelCased; connections are
 * opened lazily, and a broken connection is replaced on the next query, so a
 * PostgreSQL restart costs failed queries, never the process.
 */
export function createSql(url: string, options: SqlOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 5,
    max_lifetime: 60 * 30,
    // Reconnect the LISTEN connection quickly after a database restart (the default waits up to 20 s).
    backoff: (attempt: number) => Math.min(0.1 * 2 ** attempt, 2),
    types: { bigint: postgres.BigInt },
    transform: { column: { from: postgres.toCamel } },
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? "nexus" },
  });
}
