/**
 * `make release-check`'s refusals, on a scratch git repository holding the
 * files the checks read (VERSION, CHANGELOG.md, package.json and its lock,
 * the Python project), with a `make test` stamp written for it, so nothing
 * here runs the suite. Then the command itself, refusing a wrong tag with
 * exit code 1.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { changelogSection, releaseProblems, untestedReason, writeStamp } from "../../scripts/release-check.ts";
import { readVersion } from "../../scripts/version.ts";

const root = new URL("../../", import.meta.url).pathname;
const version = readVersion();

describe("make release-check", () => {
  let repo: string;
  const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  const commitAll = (message: string) => {
    git("add", "-A");
    git("-c", "user.name=test", "-c", "user.email=test@example.test", "commit", "-q", "-m", message);
  };

  before(() => {
    repo = mkdtempSync(join(tmpdir(), "nexus-release-"));
    for (const f of ["VERSION", "package.json", "package-lock.json", "sdk/python/pyproject.toml"]) cpSync(join(root, f), join(repo, f));
    writeFileSync(join(repo, "CHANGELOG.md"), `# Changelog\n\n## [Unreleased]\n\n## [${version}] - 2026-12-02\n\n### Added\n\n- Everything.\n\n## [0.0.1] - 2026-01-01\n\n- Older.\n`);
    writeFileSync(join(repo, ".gitignore"), "/.nexus/\n");
    git("init", "-q");
    commitAll("release");
    writeStamp(repo); // as make test does when it passes
  });
  after(() => rmSync(repo, { recursive: true, force: true }));

  it("lets the tag of VERSION through once make test passed on the commit", () => {
    assert.deepEqual(releaseProblems(`v${version}`, repo), []);
    assert.equal(untestedReason(repo), undefined);
    assert.deepEqual(changelogSection(readFileSync(join(repo, "CHANGELOG.md"), "utf8"), version), { date: "2026-12-02", body: "### Added\n\n- Everything." });
  });

  it("refuses a tag that is not v plus VERSION, or no tag", () => {
    assert.match(releaseProblems("v99.0.0", repo).join("\n"), new RegExp(`^TAG=v99\\.0\\.0 does not match VERSION ${version.replace(/\./g, "\\.")}`));
    assert.match(releaseProblems(version, repo).join("\n"), /is not a release tag: it is v followed by the version/);
    assert.match(releaseProblems("", repo).join("\n"), /^no tag given: run make release-check TAG=v/);
  });

  it("refuses a version with no dated CHANGELOG.md section", () => {
    const changelog = readFileSync(join(repo, "CHANGELOG.md"), "utf8");
    try {
      writeFileSync(join(repo, "CHANGELOG.md"), changelog.replace(`## [${version}] - 2026-12-02`, `## [${version}] - unreleased`));
      commitAll("undated");
      assert.deepEqual(releaseProblems(`v${version}`, repo), [
        `CHANGELOG.md has no section "## [${version}] - YYYY-MM-DD": add what ${version} changes, dated, before releasing it`,
      ]);
    } finally {
      writeFileSync(join(repo, "CHANGELOG.md"), changelog);
      commitAll("dated again");
      writeStamp(repo);
    }
  });

  it("refuses copies of the version that disagree, and a tree with uncommitted changes", () => {
    const pkg = readFileSync(join(repo, "package.json"), "utf8");
    try {
      writeFileSync(join(repo, "package.json"), pkg.replace(`"version": "${version}"`, '"version": "0.0.0-drift"'));
      const problems = releaseProblems(`v${version}`, repo);
      assert.equal(problems.length, 2, problems.join("\n"));
      assert.match(problems[0]!, /^package\.json has version 0\.0\.0-drift/);
      assert.match(problems[1]!, /^the working tree has uncommitted changes/);
    } finally {
      writeFileSync(join(repo, "package.json"), pkg);
    }
  });

  it("sees when make test has not passed on the commit checked out", () => {
    mkdirSync(join(repo, "docs"), { recursive: true });
    writeFileSync(join(repo, "docs/new.md"), "# New\n");
    commitAll("after the tests");
    assert.match(untestedReason(repo) ?? "", /^make test last passed on [0-9a-f]{12}, not on [0-9a-f]{12}$/);
    writeStamp(repo);
    assert.equal(untestedReason(repo), undefined);
    rmSync(join(repo, ".nexus"), { recursive: true });
    assert.equal(untestedReason(repo), "make test has not passed in this checkout");
  });

  it("exits 1 and names the problem when run as make runs it", async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, ["--import", "tsx", join(root, "scripts/release-check.ts"), "check", "--tag", "v0.0.0-not-it"], { cwd: root }, (error, _stdout, stderr) => {
        resolve({ code: error === null ? 0 : (error as { code?: number }).code ?? null, stderr });
      });
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^release-check: refused\n {2}- TAG=v0\.0\.0-not-it does not match VERSION /);
  });
});
