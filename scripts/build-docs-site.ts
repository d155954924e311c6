/**
 * `make docs-site`: builds the documentation site (VitePress, site/) into
 * .nexus/site, printing the build's output as it goes, and records in
 * .nexus/site-build.json what the build printed and the SHA-256 of every file
 * it was built from. test/e2e/docs-site.test.ts reads that record: it fails
 * on any warning in the log, and on a site older than its sources (as the
 * package tests do for the npm tarballs), so `make test` builds the site once
 * and the tests check that very build.
 *
 *   npx tsx scripts/build-docs-site.ts
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { linkedSourceFiles, sitePageFiles } from "../site/site-pages.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
/** Where the record of the last build is kept, relative to the repository root. */
export const buildRecord = ".nexus/site-build.json";

/** What the record holds. */
export interface SiteBuild {
  readonly log: string;
  readonly sha256: Record<string, string>;
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true })
    .filter((e) => !e.name.startsWith(".") || e.name === ".vitepress")
    .flatMap((e) => (e.isDirectory() ? (e.name === "cache" ? [] : filesUnder(`${dir}/${e.name}`)) : [`${dir}/${e.name}`]));
}

/** The files a build reads: its pages, the repository files they show, the site's code, VERSION and the lock file. */
export function siteInputs(): string[] {
  const sources = linkedSourceFiles().filter((f) => statSync(join(root, f)).isFile());
  return [...new Set([...sitePageFiles(), ...sources, ...filesUnder("site"), "VERSION", "package-lock.json"])].sort();
}

/** SHA-256 (hex) of each file. */
export function hashes(files: readonly string[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f, createHash("sha256").update(readFileSync(join(root, f))).digest("hex")]));
}

/** The inputs that changed, appeared or went away since `record` was built; empty when the site is current. */
export function staleSiteInputs(record: SiteBuild): string[] {
  const now = hashes(siteInputs());
  const changed = Object.keys({ ...now, ...record.sha256 }).filter((f) => now[f] !== record.sha256[f]);
  return changed.sort().map((f) => relative(root, join(root, f)));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const inputs = hashes(siteInputs());
  const child = spawn(join(root, "node_modules/.bin/vitepress"), ["build", "site"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  for (const stream of [child.stdout, child.stderr]) {
    stream.on("data", (c: Buffer) => {
      log += c;
      process.stdout.write(c);
    });
  }
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0) {
    process.exitCode = 1;
  } else {
    mkdirSync(join(root, ".nexus"), { recursive: true });
    writeFileSync(join(root, buildRecord), `${JSON.stringify({ log, sha256: inputs } satisfies SiteBuild, null, 2)}\n`);
  }
}
