/**
 * The checks of `make release-check TAG=vX.Y.Z`, and the stamp `make test`
 * leaves when it passes. A release is refused unless the tag is `v` plus
 * VERSION, CHANGELOG.md has a dated section for that version, every copy of
 * the version agrees, the working tree is the commit the tag names, and
 * `make test` passed on that commit (the stamp says so; `make release-check`
 * runs `make test` when it does not). Then scripts/release-artifacts.ts
 * builds the release.
 *
 *   npx tsx scripts/release-check.ts stamp              after make test passed: record the commit
 *   npx tsx scripts/release-check.ts check --tag vX.Y.Z exit 1, naming every problem, unless the tag may be released
 *   npx tsx scripts/release-check.ts tested             exit 1 unless make test passed on this very commit
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readVersion, semver, versionProblems } from "./version.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));

/** Where `make test` records that it passed, relative to the repository root. */
export const stampFile = ".nexus/test-passed.json";

/** What the stamp holds. */
export interface TestStamp {
  /** The commit the tests ran on. */
  readonly commit: string;
  /** Whether the working tree had no changes then: tests of uncommitted changes say nothing of the commit. */
  readonly clean: boolean;
  readonly at: string;
}

const git = (root: string, ...args: string[]) => execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/** The commit checked out, and whether the tree has changes git sees (ignored files do not count). */
export function checkout(root = repoRoot): { commit: string; clean: boolean } {
  return { commit: git(root, "rev-parse", "HEAD"), clean: git(root, "status", "--porcelain") === "" };
}

/** Records that the tests passed on what is checked out now. */
export function writeStamp(root = repoRoot, now = () => new Date()): TestStamp {
  const stamp: TestStamp = { ...checkout(root), at: now().toISOString() };
  mkdirSync(dirname(join(root, stampFile)), { recursive: true });
  writeFileSync(join(root, stampFile), `${JSON.stringify(stamp, null, 2)}\n`);
  return stamp;
}

/** The dated CHANGELOG.md section of `version` ("## [1.2.3] - 2026-12-02"), or undefined. */
export function changelogSection(changelog: string, version: string): { date: string; body: string } | undefined {
  const escaped = version.replace(/[.+]/g, "\\$&");
  const m = new RegExp(`^## \\[${escaped}\\] - (\\d{4}-\\d{2}-\\d{2})[ \\t]*\\n([\\s\\S]*?)(?=^## |(?![\\s\\S]))`, "m").exec(changelog);
  return m === null ? undefined : { date: m[1]!, body: m[2]!.trim() };
}

/** Why `tag` may not be released from `root` now; empty when it may. */
export function releaseProblems(tag: string | undefined, root = repoRoot): string[] {
  const version = readVersion(root);
  const problems: string[] = [];
  if (tag === undefined || tag === "") {
    problems.push(`no tag given: run make release-check TAG=v${version}`);
  } else if (!tag.startsWith("v") || !semver.test(tag.slice(1))) {
    problems.push(`TAG=${tag} is not a release tag: it is v followed by the version, such as v${version}`);
  } else if (tag !== `v${version}`) {
    problems.push(`TAG=${tag} does not match VERSION ${version}: tag v${version}, or set the version first (npx tsx scripts/version.ts set ${tag.slice(1)})`);
  }
  const changelog = existsSync(join(root, "CHANGELOG.md")) ? readFileSync(join(root, "CHANGELOG.md"), "utf8") : "";
  if (changelogSection(changelog, version) === undefined) {
    problems.push(`CHANGELOG.md has no section "## [${version}] - YYYY-MM-DD": add what ${version} changes, dated, before releasing it`);
  }
  problems.push(...versionProblems(root));
  if (!checkout(root).clean) problems.push("the working tree has uncommitted changes: a release is built from the commit its tag names (commit or stash them)");
  return problems;
}

/** Why the stamp does not show that `make test` passed on the commit checked out; undefined when it does. */
export function untestedReason(root = repoRoot): string | undefined {
  const path = join(root, stampFile);
  if (!existsSync(path)) return "make test has not passed in this checkout";
  const stamp = JSON.parse(readFileSync(path, "utf8")) as TestStamp;
  const now = checkout(root);
  if (stamp.commit !== now.commit) return `make test last passed on ${stamp.commit.slice(0, 12)}, not on ${now.commit.slice(0, 12)}`;
  if (!stamp.clean) return "make test last passed with uncommitted changes in the tree, which says nothing of the commit";
  return undefined;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { tag: { type: "string" } } });
  const fail = (lines: string[]) => {
    process.stderr.write(`release-check: refused\n${lines.map((l) => `  - ${l}\n`).join("")}`);
    process.exitCode = 1;
  };
  switch (positionals[0]) {
    case "stamp": {
      const stamp = writeStamp();
      process.stdout.write(`make test passed on ${stamp.commit.slice(0, 12)}${stamp.clean ? "" : " (with uncommitted changes)"}; recorded in ${stampFile}\n`);
      break;
    }
    case "check": {
      const problems = releaseProblems(values.tag);
      if (problems.length > 0) fail(problems);
      else process.stdout.write(`release-check: ${values.tag} matches VERSION, CHANGELOG.md and every copy of the version\n`);
      break;
    }
    case "tested": {
      const reason = untestedReason();
      if (reason !== undefined) {
        process.stderr.write(`release-check: ${reason}\n`);
        process.exitCode = 1;
      } else {
        process.stdout.write("release-check: make test passed on this commit\n");
      }
      break;
    }
    default:
      process.stderr.write("usage: npx tsx scripts/release-check.ts stamp | check --tag vX.Y.Z | tested\n");
      process.exitCode = 2;
  }
}
