/**
 * `make run` and `make test` from a clone inside a folder only root may enter
 * (/root, `mktemp -d`), run as root: PostgreSQL runs as the postgres user,
 * who cannot reach the clone, so Nexus runs it from a staging folder of its
 * own, and changes no permission on anything else. Root only: as any other
 * user PostgreSQL runs as that user, who reaches the clone.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, lstatSync, readdirSync, realpathSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import postgres from "postgres";
import { type ClosedClone, makeClosedClone } from "../support/closed-clone.ts";
import { freePort } from "../support/free-port.ts";
import { until } from "../support/until.ts";

const asRoot = process.getuid?.() === 0;

/** Runs a command in the clone, collecting its output. */
function run(clone: ClosedClone, args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const base = { ...process.env } as Record<string, string>;
  // Not this test's own database, nor node:test's marker (an inner `node --test` would refuse to run files).
  delete base.DATABASE_URL;
  delete base.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: clone.dir, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  child.stdout!.on("data", (c: Buffer) => (text += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (text += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => text, exit };
}

describe("a clone inside a closed folder, as root", { skip: asRoot ? false : "only root runs PostgreSQL as another user" }, () => {
  let clone: ClosedClone;
  let env: Record<string, string>;
  let before0: Map<string, string>;
  const nexusDir = () => join(clone.dir, ".nexus");

  before(async () => {
    clone = await makeClosedClone();
    env = {
      BROKER_PORT: String(await freePort()), GATEWAY_PORT: String(await freePort()), NEXUS_DEV_PG_PORT: String(await freePort()),
      NEXUS_SANDBOX: "off", NEXUS_DEV_PG_DIR: clone.stage,
    };
    before0 = clone.permissions([join(clone.dir, ".nexus")]);
  });
  after(() => clone?.remove());

  /** Starts make run's program, waits for its banner, checks it, stops it with Ctrl-C. */
  async function makeRun(check: (output: string) => Promise<void>): Promise<void> {
    const dev = run(clone, ["src/runtime/node/dev.ts"], env);
    try {
      await until("the banner", async () => {
        if (dev.child.exitCode !== null) throw new Error(`make run exited ${dev.child.exitCode}:\n${dev.output()}`);
        return dev.output().includes("Nexus is running") ? true : undefined;
      }, 120_000);
      await check(dev.output());
    } finally {
      dev.child.kill("SIGINT");
      assert.equal(await dev.exit, 0, dev.output());
    }
  }

  it("stops with one sentence, and leaves no data folder, when no folder the postgres user can reach is given", async () => {
    const closedStage = join(clone.outer, "stage");
    const dev = run(clone, ["src/runtime/node/dev.ts"], { ...env, NEXUS_DEV_PG_DIR: closedStage });
    assert.equal(await dev.exit, 1);
    const lines = dev.output().trim().split("\n");
    assert.match(lines.at(-1)!, new RegExp(`^Nexus cannot start PostgreSQL: PostgreSQL runs as the postgres user, who cannot reach this clone, .*${closedStage} \\(the postgres user cannot enter ${clone.outer}\\); set NEXUS_DEV_PG_DIR`));
    assert.ok(!dev.output().includes("    at "), `no stack trace:\n${dev.output()}`);
    assert.equal(existsSync(join(nexusDir(), "pgdata")), false);
  });

  it("make run starts, answers from PostgreSQL, and keeps its data across a restart", async () => {
    await makeRun(async (output) => {
      assert.match(output, new RegExp(`who cannot enter ${clone.outer}: it runs from a copy in ${clone.stage}/postgresql-`));
      assert.match(output, new RegExp(`who cannot enter ${clone.outer}: its data is kept in ${clone.stage}/pgdata-\\w+ \\(${nexusDir()}/pgdata links there\\)`));
      assert.match(output, /of the registered agent dev-agent \(id [0-9a-f-]{36}, registered now\)/);
      const sql = postgres(`postgres://postgres:nexus-dev@127.0.0.1:${env.NEXUS_DEV_PG_PORT}/nexus`, { max: 1, onnotice: () => {} });
      try {
        assert.deepEqual((await sql`select name from agents`).map((r) => r.name), ["dev-agent"]);
      } finally {
        await sql.end();
      }
      const providers = await fetch(`http://127.0.0.1:${env.GATEWAY_PORT}/v1/providers`, { headers: { authorization: `Bearer ${/Agent key[^:]*:\s+(nxa_\S+)/.exec(output)![1]}` } });
      assert.equal(providers.status, 200);
    });
    const data = join(nexusDir(), "pgdata");
    assert.ok(lstatSync(data).isSymbolicLink());
    assert.ok(realpathSync(data).startsWith(`${clone.stage}/pgdata-`));
    assert.equal(lstatSync(realpathSync(data)).uid, Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" })), "owned by postgres");

    await makeRun(async (output) => {
      assert.match(output, /of the registered agent dev-agent \(id [0-9a-f-]{36}\); more agents/, "the same agent, found in the kept data");
    });
    assert.deepEqual(readdirSync(clone.stage).filter((n) => !n.startsWith(".")).map((n) => n.replace(/-.*/, "")).sort(), ["pgdata", "postgresql"]);
  });

  it("make test's runner starts PostgreSQL too, even with TMPDIR inside the closed folder", async () => {
    const tmp = join(clone.outer, "tmp");
    await mkdir(tmp, { mode: 0o700 });
    const tests = run(clone, ["test/support/run-tests.ts", "test/integration/migrations.test.ts"], { ...env, TMPDIR: tmp });
    assert.equal(await tests.exit, 0, tests.output());
    assert.match(tests.output(), /PostgreSQL ready on port \d+/);
    assert.match(tests.output(), /ℹ fail 0/);
    assert.match(tests.output(), new RegExp(`who cannot enter ${clone.outer}: its data is kept in ${clone.stage}/pgdata-`));
  });

  it("changed the mode or owner of nothing outside .nexus and its own staging folder", () => {
    const now = clone.permissions([join(clone.dir, ".nexus"), join(clone.outer, "tmp")]);
    const changed = [...before0].filter(([path, was]) => now.get(path) !== was).map(([path, was]) => `${path}: ${was} -> ${now.get(path)}`);
    assert.deepEqual(changed, []);
    assert.equal(now.get(clone.outer)?.split(" ")[0], "700");
  });
});
