import { readdir, readFile } from "node:fs/promises";
import type { Migration } from "../../broker/db/migrate.ts";

/** The migrations shipped in the repository's sql/ folder. */
export const migrationsDir = new URL("../../../sql/", import.meta.url);

/** Reads every `NNN_name.sql` file of `dir`. */
export async function loadMigrations(dir: URL = migrationsDir): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((n) => /^\d{3}_[a-z0-9_]+\.sql$/.test(n)).sort();
  return Promise.all(names.map(async (name) => ({
    version: name.replace(/\.sql$/, ""),
    sql: await readFile(new URL(name, dir), "utf8"),
  })));
}
