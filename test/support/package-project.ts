/**
 * A user's project outside the repository, for tests of the packed packages:
 * a fresh temporary folder with a package.json, the tarball installed with
 * plain `npm install`, and processes run in it with only PATH and HOME from
 * our environment (no tsx loader, no NODE_OPTIONS).
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPackage, type PackageSpec } from "../../scripts/build-package.ts";

const root = new URL("../../", import.meta.url).pathname;

/** The tarball `make packages` packed (make test builds them fresh first), or one packed now when there is none. */
export function packedTarball(spec: PackageSpec): string {
  const packDir = join(root, spec.outDir);
  const tarballs = existsSync(packDir) ? readdirSync(packDir).filter((f) => f.endsWith(".tgz")) : [];
  return tarballs.length === 1 ? join(packDir, tarballs[0]!) : buildPackage(spec).tarball;
}

/** What a finished process printed. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@linkcode PackageProject.run}. */
export interface RunOptions {
  readonly env?: Record<string, string>;
  /** Where to run instead of the project. */
  readonly cwd?: string;
  /** Called with each line of stdout as it arrives. */
  readonly onLine?: (line: string) => void;
  /** Killed after this long. @default 60_000 */
  readonly timeoutMs?: number;
}

/** A temporary project with the package installed. */
export interface PackageProject {
  readonly dir: string;
  write(name: string, text: string): Promise<void>;
  /** Runs `command` in the project; resolves when it exits, whatever its code. */
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  close(): Promise<void>;
}

/** Creates the project and installs `tarball` into it (dependencies from the npm cache, else the registry). */
export async function createPackageProject(tarball: string): Promise<PackageProject> {
  const dir = await mkdtemp(join(tmpdir(), "nexus-package-user-"));
  const { PATH = "", HOME = "" } = process.env;
  const base = { PATH, HOME, NPM_CONFIG_UPDATE_NOTIFIER: "false", NO_COLOR: "1" };
  const project: PackageProject = {
    dir,
    write: (name, text) => writeFile(join(dir, name), text),
    run: (command, args, options = {}) => new Promise((resolve, reject) => {
      const child = spawn(command, args, { cwd: options.cwd ?? dir, env: { ...base, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      let partial = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk;
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop()!;
        for (const line of lines) options.onLine?.(line);
      });
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
      const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    }),
    close: () => rm(dir, { recursive: true, force: true }),
  };
  await project.write("package.json", `${JSON.stringify({ name: "my-agent", version: "1.0.0", private: true, type: "module" }, null, 2)}\n`);
  const installed = await project.run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], { timeoutMs: 120_000 });
  if (installed.code !== 0) throw new Error(`npm install ${tarball} failed (${installed.code}):\n${installed.stderr}`);
  return project;
}
