import type { Sql } from "./sql.ts";

/** One migration file: its version (the file name without `.sql`) and its text. */
export interface Migration {
  readonly version: string;
  readonly sql: string;
}

/** What a migration run did. */
export interface MigrationReport {
  readonly applied: readonly string[];
  readonly skipped: readonly string[];
}

// An arbitrary constant shared by every Nexus process that migrates this database.
const migrationLock = 7_246_841_002;

/**
 * Applies migrations in version order. Each runs in its own transaction under
 * an advisory lock, so concurrent Brokers migrate once; applied versions are
 * recorded with a checksum, so re-running is a no-op and an edited migration
 * is refused rather than silently diverging. A database that has a version
 * this build does not know is refused too: it belongs to a newer Nexus.
 */
export async function applyMigrations(sql: Sql, migrations: readonly Migration[]): Promise<MigrationReport> {
  const sorted = [...migrations].sort((a, b) => a.version.localeCompare(b.version));
  const known = new Set(sorted.map((m) => m.version));
  if (known.size !== sorted.length) throw new Error("two migrations share a version");
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${migrationLock})`;
    await tx`create table if not exists schema_migrations (
      version text primary key, checksum text not null, applied_at timestamptz not null default now())`;
  });
  const applied: string[] = [];
  const skipped: string[] = [];
  for (const migration of sorted) {
    const checksum = await sha256Hex(migration.sql);
    await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${migrationLock})`;
      const [row] = await tx<{ checksum: string }[]>`select checksum from schema_migrations where version = ${migration.version}`;
      if (row !== undefined) {
        if (row.checksum !== checksum) {
          throw new Error(`migration ${migration.version} was changed after it was applied; add a new migration instead`);
        }
        skipped.push(migration.version);
        return;
      }
      await tx.unsafe(migration.sql);
      await tx`insert into schema_migrations (version, checksum) values (${migration.version}, ${checksum})`;
      applied.push(migration.version);
    });
  }
  const rows = await sql<{ version: string }[]>`select version from schema_migrations`;
  const unknown = rows.map((r) => r.version).filter((v) => !known.has(v));
  if (unknown.length > 0) {
    throw new Error(`the database has migrations this build does not know (${unknown.join(", ")}); run a newer Nexus`);
  }
  return { applied, skipped };
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
