/**
 * VERSION at the root is the single source of Nexus's version. The npm
 * packages (scripts/build-package.ts), the Python package (its build backend
 * and nexus_sdk/_version.py) and the documentation site's chip read it; the
 * root package.json and package-lock.json carry a copy, because npm and the
 * `nexus` command in a checkout read those, and {@linkcode versionProblems}
 * (run by test/unit/version.test.ts and by `make release-check`) fails
 * while any copy disagrees.
 *
 *   npx tsx scripts/version.ts            print the version
 *   npx tsx scripts/version.ts set X.Y.Z  write it to VERSION and to both copies
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));

/** A version as Semantic Versioning 2.0.0 spells one (no leading v). */
export const semver = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** VERSION at `dir` (the repository root by default), checked to be a semantic version. */
export function readVersion(dir = root): string {
  const version = readFileSync(join(dir, "VERSION"), "utf8").trim();
  if (!semver.test(version)) throw new Error(`VERSION holds "${version}", which is not a semantic version such as 1.2.3`);
  return version;
}

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;

/**
 * Every copy of the version that disagrees with VERSION, as sentences that
 * say how to fix it; empty when all agree. Reads files only, so it is cheap
 * enough for every release check.
 */
export function versionProblems(dir = root): string[] {
  const version = readVersion(dir);
  const problems: string[] = [];
  const fix = "run `npx tsx scripts/version.ts set <version>`, which writes VERSION and its copies";
  const pkg = readJson(join(dir, "package.json"));
  if (pkg.version !== version) problems.push(`package.json has version ${String(pkg.version)}, VERSION has ${version}: ${fix}`);
  const lock = readJson(join(dir, "package-lock.json")) as { version?: string; packages?: Record<string, { version?: string }> };
  if (lock.version !== version || lock.packages?.[""]?.version !== version) {
    problems.push(`package-lock.json has version ${String(lock.version)}, VERSION has ${version}: ${fix}`);
  }
  const pyproject = join(dir, "sdk/python/pyproject.toml");
  if (existsSync(pyproject)) {
    const text = readFileSync(pyproject, "utf8");
    if (/^version\s*=/m.test(text) || !/^dynamic\s*=\s*\[[^\]]*"version"/m.test(text)) {
      problems.push('sdk/python/pyproject.toml must not hold a version: its build backend reads VERSION (dynamic = ["version"])');
    }
  }
  return problems;
}

/** Writes `version` to VERSION, package.json and package-lock.json. */
export function setVersion(version: string, dir = root): void {
  if (!semver.test(version)) throw new Error(`"${version}" is not a semantic version such as 1.2.3`);
  writeFileSync(join(dir, "VERSION"), `${version}\n`);
  const pkg = readJson(join(dir, "package.json"));
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);
  const lock = readJson(join(dir, "package-lock.json")) as { version?: string; packages: Record<string, Record<string, unknown>> };
  lock.version = version;
  lock.packages[""] = { ...lock.packages[""], version };
  writeFileSync(join(dir, "package-lock.json"), `${JSON.stringify(lock, null, 2)}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [command, value] = process.argv.slice(2);
  if (command === "set" && value !== undefined) {
    setVersion(value);
    process.stdout.write(`VERSION, package.json and package-lock.json now say ${value}\n`);
  } else if (command === undefined) {
    process.stdout.write(`${readVersion()}\n`);
  } else {
    process.stderr.write("usage: npx tsx scripts/version.ts [set X.Y.Z]\n");
    process.exitCode = 2;
  }
}
