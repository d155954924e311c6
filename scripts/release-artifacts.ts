/**
 * Gathers a release into .nexus/release/, after `make release-check` has
 * checked the tag and run (or found) a passing `make test`, and `make
 * packages build docs-site` has built the parts:
 *
 *   nexus-broker-client-X.Y.Z.tgz, nexus-broker-cli-X.Y.Z.tgz   the npm packages, as make packages packed them
 *   nexus_sdk-X.Y.Z.tar.gz, nexus_sdk-X.Y.Z-py3-none-any.whl    the Python package: the sdist from its in-tree
 *                                                              backend, the wheel built from that sdist by pip, offline
 *   nexus-services-X.Y.Z.tar.gz   make build's bundles with what they need beside them (sql/, deploy/, package.json
 *                                 and package-lock.json for npm ci), laid out as the systemd units expect /opt/nexus
 *   nexus-docs-X.Y.Z.tar.gz       the documentation site
 *   RELEASE-NOTES.md              the version's CHANGELOG.md section
 *   SHA256SUMS                    for `sha256sum -c SHA256SUMS`
 *
 *   npx tsx scripts/release-artifacts.ts
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageSpecs, staleInputs } from "./build-package.ts";
import { changelogSection } from "./release-check.ts";
import { readVersion } from "./version.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
/** Where the release is gathered. */
export const releaseDir = join(root, ".nexus/release");

const run = (cmd: string, args: string[], cwd = root, env: NodeJS.ProcessEnv = process.env) =>
  execFileSync(cmd, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** A reproducible .tar.gz of `paths` (relative to `cwd`) under the folder `prefix`, dated `mtime` (unix seconds). */
function tarball(out: string, cwd: string, prefix: string, paths: string[], mtime: string): void {
  run("tar", [
    "--sort=name", `--mtime=@${mtime}`, "--owner=0", "--group=0", "--numeric-owner", "--use-compress-program=gzip -n -9",
    `--transform=s,^,${prefix}/,`, "-cf", out, ...paths,
  ], cwd);
}

/** The npm tarballs, checked to be of this version and built from the sources as they are. */
function npmPackages(version: string): string[] {
  return Object.values(packageSpecs).map((spec) => {
    const dir = join(root, spec.outDir);
    const tgz = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith(".tgz")) : undefined;
    if (tgz === undefined) throw new Error(`no tarball in ${spec.outDir}: run make packages`);
    const manifest = JSON.parse(run("tar", ["-xzOf", join(dir, tgz), "package/package.json"])) as { name: string; version: string };
    if (manifest.version !== version) throw new Error(`${tgz} is ${manifest.name}@${manifest.version}, not ${version}: run make packages`);
    const stale = staleInputs(spec, JSON.parse(run("tar", ["-xzOf", join(dir, tgz), "package/dist/sources.json"])) as { sha256: Record<string, string> });
    if (stale.length > 0) throw new Error(`${tgz} was packed before ${stale.slice(0, 3).join(", ")} changed: run make packages`);
    copyFileSync(join(dir, tgz), join(releaseDir, tgz));
    return tgz;
  });
}

/** The sdist from the in-tree backend, then the wheel pip builds from that sdist in a fresh venv, with no index. */
function pythonPackage(version: string): string[] {
  const python = process.env.NEXUS_PYTHON ?? "python3";
  const backend = join(root, "sdk/python/build_backend");
  const sdist = run(python, ["-c", `import sys; sys.path.insert(0, ${JSON.stringify(backend)}); import nexus_sdk_build as b; print(b.build_sdist(sys.argv[1]))`, releaseDir]).trim();
  const venv = join(root, ".nexus/release-venv");
  rmSync(venv, { recursive: true, force: true });
  run(python, ["-m", "venv", venv]);
  const env = { PATH: process.env.PATH ?? "", PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" };
  run(join(venv, "bin/python"), ["-m", "pip", "wheel", "--no-deps", "--no-index", "--no-cache-dir", "--wheel-dir", releaseDir, join(releaseDir, sdist)], root, env);
  rmSync(venv, { recursive: true, force: true });
  const wheel = `nexus_sdk-${version}-py3-none-any.whl`;
  if (sdist !== `nexus_sdk-${version}.tar.gz` || !existsSync(join(releaseDir, wheel))) throw new Error(`the Python build gave ${sdist} and no ${wheel}`);
  return [sdist, wheel];
}

/** Builds the release of VERSION into .nexus/release/ and returns the file names, SHA256SUMS last. */
export function gatherRelease(): string[] {
  const version = readVersion();
  const changelog = changelogSection(readFileSync(join(root, "CHANGELOG.md"), "utf8"), version);
  if (changelog === undefined) throw new Error(`CHANGELOG.md has no section for ${version}`);
  for (const built of [".nexus/build/node/broker.mjs", ".nexus/site/index.html"]) {
    if (!existsSync(join(root, built))) throw new Error(`${built} is missing: run make build docs-site`);
  }
  if (!readFileSync(join(root, ".nexus/site/index.html"), "utf8").includes(`v${version}`)) throw new Error(`the site in .nexus/site is not of ${version}: run make docs-site`);
  rmSync(releaseDir, { recursive: true, force: true });
  mkdirSync(releaseDir, { recursive: true });
  const mtime = run("git", ["log", "-1", "--format=%ct"]).trim();
  const files = [...npmPackages(version), ...pythonPackage(version)];
  const services = `nexus-services-${version}.tar.gz`;
  tarball(join(releaseDir, services), root, `nexus-${version}`, [".nexus/build/node", "sql", "deploy", "package.json", "package-lock.json", "VERSION"], mtime);
  const docs = `nexus-docs-${version}.tar.gz`;
  tarball(join(releaseDir, docs), join(root, ".nexus/site"), `nexus-docs-${version}`, readdirSync(join(root, ".nexus/site")), mtime);
  writeFileSync(join(releaseDir, "RELEASE-NOTES.md"), `# Nexus ${version} (${changelog.date})\n\n${changelog.body}\n`);
  files.push(services, docs, "RELEASE-NOTES.md");
  const sums = [...files].sort().map((f) => `${createHash("sha256").update(readFileSync(join(releaseDir, f))).digest("hex")}  ${f}\n`);
  writeFileSync(join(releaseDir, "SHA256SUMS"), sums.join(""));
  return [...files, "SHA256SUMS"];
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = gatherRelease();
  process.stdout.write(`release ${readVersion()} in .nexus/release/:\n${files.map((f) => `  ${basename(f)}\n`).join("")}`);
}
