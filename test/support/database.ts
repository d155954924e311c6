import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { applyMigrations } from "../../src/broker/db/migrate.ts";
import { createSql, type Sql } from "../../src/broker/db/sql.ts";
import { startEmbeddedPostgres } from "../../src/runtime/node/embedded-postgres.ts";
import { loadMigrations } from "../../src/runtime/node/load-migrations.ts";
import { freePort } from "./free-port.ts";

/** A migrated database of this test file's own. */
export interface TestDatabase {
  readonly url: string;
  readonly sql: Sql;
  /** Drops the database. */
  close(): Promise<void>;
}

let fallback: Promise<string> | undefined;

/**
 * Returns the admin URL of the suite's PostgreSQL (set by run-tests.ts). A file
 * run on its own starts a private embedded cluster instead.
 */
function adminUrl(): Promise<string> {
  const url = process.env.NEXUS_TEST_PG_URL;
  if (url !== undefined) return Promise.resolve(url);
  fallback ??= (async () => {
    const port = await freePort();
    const pg = await startEmbeddedPostgres({
      dataDir: join(tmpdir(), `nexus-test-${process.pid}-${port}`, "data"), port, persistent: false, fast: true,
      ...(process.env.NEXUS_DEV_PG_DIR ? { stageDir: process.env.NEXUS_DEV_PG_DIR } : {}),
    });
    await pg.ensureDatabase("nexus_template");
    const sql = createSql(pg.url("nexus_template"), { max: 1 });
    await applyMigrations(sql, await loadMigrations());
    await sql.end({ timeout: 5 });
    process.once("exit", () => void pg.stop());
    return pg.url();
  })();
  return fallback;
}

/** Creates a fresh database cloned from the migrated template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = await adminUrl();
  const name = `t_${randomBytes(6).toString("hex")}`;
  const adminSql = postgres(admin, { max: 1, onnotice: () => {} });
  await adminSql.unsafe(`create database ${name} template nexus_template`);
  const url = admin.replace(/\/[^/]*$/, `/${name}`);
  const sql = createSql(url, { max: 10 });
  return {
    url,
    sql,
    async close() {
      await sql.end({ timeout: 5 });
      await adminSql.unsafe(`drop database if exists ${name} with (force)`);
      await adminSql.end({ timeout: 5 });
    },
  };
}
