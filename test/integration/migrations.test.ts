import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { applyMigrations } from "../../src/broker/db/migrate.ts";
import { loadMigrations } from "../../src/runtime/node/load-migrations.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

async function schemaSnapshot(db: TestDatabase): Promise<string> {
  const columns = await db.sql`
    select table_name, column_name, data_type, is_nullable, column_default
    from information_schema.columns where table_schema = 'public' order by table_name, column_name`;
  const indexes = await db.sql`select indexname, indexdef from pg_indexes where schemaname = 'public' order by indexname`;
  return JSON.stringify({ columns, indexes });
}

describe("applyMigrations()", () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.close());

  it("is a no-op when applied again to a migrated database", async () => {
    const migrations = await loadMigrations();
    assert.ok(migrations.length >= 1);
    const before = await schemaSnapshot(db);
    const first = await applyMigrations(db.sql, migrations);
    const second = await applyMigrations(db.sql, migrations);
    assert.deepEqual(first.applied, []);
    assert.deepEqual(second.applied, []);
    assert.deepEqual(second.skipped, migrations.map((m) => m.version));
    assert.equal(await schemaSnapshot(db), before);
    const rows = await db.sql`select version from schema_migrations order by version`;
    assert.deepEqual(rows.map((r) => r.version), migrations.map((m) => m.version));
  });

  it("applies a new migration once, even when two processes race", async () => {
    const migrations = [...(await loadMigrations()), { version: "999_probe", sql: "create table probe (id int primary key);" }];
    const [a, b] = await Promise.all([applyMigrations(db.sql, migrations), applyMigrations(db.sql, migrations)]);
    assert.deepEqual([...a.applied, ...b.applied], ["999_probe"]);
    await db.sql`select * from probe`;
  });

  it("refuses a migration whose text changed after it was applied", async () => {
    const migrations = [...(await loadMigrations()), { version: "999_probe", sql: "create table probe (id bigint primary key);" }];
    await assert.rejects(applyMigrations(db.sql, migrations), /999_probe was changed after it was applied/);
  });

  it("refuses a database that has a migration this build does not know", async () => {
    await assert.rejects(applyMigrations(db.sql, await loadMigrations()), /does not know \(999_probe\)/);
  });

  it("rolls back a failing migration completely", async () => {
    const migrations = [
      ...(await loadMigrations()),
      { version: "999_probe", sql: "create table probe (id int primary key);" },
      { version: "999_zz_broken", sql: "create table half_done (id int); select * from no_such_table;" },
    ];
    await assert.rejects(applyMigrations(db.sql, migrations), /no_such_table/);
    const [row] = await db.sql`select to_regclass('half_done') as t`;
    assert.equal(row!.t, null);
    const versions = await db.sql`select version from schema_migrations where version = '999_zz_broken'`;
    assert.equal(versions.length, 0);
  });
});
