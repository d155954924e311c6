/**
 * VERSION is the single source of the version: every place that states one
 * reads it or agrees with it. The npm packages are stamped from it
 * (client-package and cli-package tests install them), the `nexus` command
 * prints it in a checkout, the Python package and its build backend read it,
 * and the documentation site's chip shows it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { readVersion, setVersion, versionProblems } from "../../scripts/version.ts";
import { siteVersion } from "../../site/site-pages.ts";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const python = process.env.NEXUS_PYTHON ?? "python3";

describe("VERSION, the single source of the version", () => {
  const version = readVersion();

  it("is a semantic version, and every copy agrees with it", () => {
    assert.match(version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(versionProblems(), []);
  });

  it("is what `nexus --version` prints in a checkout", async () => {
    const { stdout } = await run(process.execPath, [join(root, "bin/nexus.mjs"), "--version"], { cwd: root });
    assert.equal(stdout.trim(), version);
  });

  it("is the Python package's version, in the checkout and in what its build backend builds", async () => {
    const script = [
      "import sys",
      `sys.path[:0] = [${JSON.stringify(join(root, "sdk/python"))}, ${JSON.stringify(join(root, "sdk/python/build_backend"))}]`,
      "import nexus_sdk, nexus_sdk_build",
      "print(nexus_sdk.__version__, nexus_sdk_build.version(), nexus_sdk_build._read_project()['version'])",
    ].join("\n");
    const { stdout } = await run(python, ["-c", script], { cwd: root, env: { PATH: process.env.PATH ?? "", PYTHONDONTWRITEBYTECODE: "1" } });
    assert.equal(stdout.trim(), `${version} ${version} ${version}`);
  });

  it("is what the documentation site's chip shows", () => {
    assert.equal(siteVersion(), version);
  });

  it("catches a copy that drifted, and set writes every copy", () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-version-"));
    try {
      for (const f of ["VERSION", "package.json", "package-lock.json"]) writeFileSync(join(dir, f), readFileSync(join(root, f)));
      writeFileSync(join(dir, "VERSION"), "9.8.7\n");
      const problems = versionProblems(dir);
      assert.equal(problems.length, 2);
      assert.match(problems[0]!, new RegExp(`^package\\.json has version ${version.replace(/\./g, "\\.")}, VERSION has 9\\.8\\.7`));
      setVersion("9.8.7", dir);
      assert.deepEqual(versionProblems(dir), []);
      assert.equal((JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version, "9.8.7");
      writeFileSync(join(dir, "VERSION"), "v9.8.7\n");
      assert.throws(() => readVersion(dir), /not a semantic version/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
