/**
 * Runs the test suite against a real PostgreSQL: starts an embedded cluster,
 * migrates a template database once, then runs every test file with node:test
 * (each file clones the template, see database.ts). Exits with the tests' code.
 *
 *   tsx test/support/run-tests.ts [files...]
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { applyMigrations } from "../../src/broker/db/migrate.ts";
import { createSql } from "../../src/broker/db/sql.ts";
import { startEmbeddedPostgres } from "../../src/runtime/node/embedded-postgres.ts";
import { loadMigrations } from "../../src/runtime/node/load-migrations.ts";
import { freePort } from "./free-port.ts";

const root = new URL("../../", import.meta.url).pathname;

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "support" ? [] : findTests(path);
    return name.endsWith(".test.ts") ? [relative(root, path)] : [];
  });
}

const files = process.argv.slice(2).length > 0 ? process.argv.slice(2) : findTests(join(root, "test")).sort();
const port = await freePort();
const dataDir = join(tmpdir(), `nexus-test-${process.pid}`, "data");
const started = Date.now();
const pg = await startEmbeddedPostgres({
  dataDir, port, persistent: false, fast: true,
  onNotice: (sentence) => process.stderr.write(`${sentence}\n`),
  ...(process.env.NEXUS_DEV_PG_DIR ? { stageDir: process.env.NEXUS_DEV_PG_DIR } : {}),
}).catch((error: unknown) => {
  // One sentence that says why and what to do, not a stack trace.
  process.stderr.write(`The tests cannot start PostgreSQL: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
process.stderr.write(`PostgreSQL ready on port ${port} in ${Date.now() - started} ms\n`);
await pg.ensureDatabase("nexus_template");
const sql = createSql(pg.url("nexus_template"), { max: 1 });
await applyMigrations(sql, await loadMigrations());
await sql.end({ timeout: 5 });

const child = spawn(
  process.execPath,
  // Force-exit and a per-test timeout keep CI from hanging on a leaked handle; leaks that matter are asserted by tests.
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", "--test-force-exit", "--test-timeout=180000", ...files],
  { cwd: root, stdio: "inherit", env: { ...process.env, NEXUS_TEST_PG_URL: pg.url() } },
);
const code = await new Promise<number>((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await pg.stop();
process.exit(code);
