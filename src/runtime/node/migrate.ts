// Entry point: `make migrate`. Applies the migrations to DATABASE_URL and exits.
import { applyMigrations } from "../../broker/db/migrate.ts";
import { createSql } from "../../broker/db/sql.ts";
import { loadMigrations } from "./load-migrations.ts";

const url = process.env.DATABASE_URL?.trim();
if (!url) {
  process.stderr.write("DATABASE_URL is not set. Set it to a PostgreSQL URL such as postgres://user:password@localhost:5432/nexus.\n");
  process.exit(1);
}
const sql = createSql(url, { max: 1, applicationName: "nexus-migrate" });
try {
  const report = await applyMigrations(sql, await loadMigrations());
  process.stdout.write(`applied: ${report.applied.join(", ") || "none"}; already applied: ${report.skipped.join(", ") || "none"}\n`);
} catch (error) {
  process.stderr.write(`migration failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await sql.end({ timeout: 5 });
}
