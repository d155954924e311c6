/**
 * Builds the repository's npm packages from the sources they ship:
 * @nexus-broker/client (the agent client, src/client/**) and
 * @nexus-broker/cli (the `nexus` command, src/cli/** and its Node entry).
 * For each, tsc compiles the sources and the gen/, src/shared and schemas/
 * files they import into packages/NAME/dist (ESM, source maps with the
 * sources inlined; .d.ts for the client), then `npm pack` writes the tarball
 * a user installs. The sources stay the truth; dist/ and tarballs are output.
 *
 *   npx tsx scripts/build-package.ts [client|cli ...]   (default: both, each into its .nexus/NAME-package/)
 *
 * Each package carries dist/sources.json, the SHA-256 of every file it was
 * built from, so a test can tell a tarball built before the last change to
 * proto/ (through gen/) or its sources from a fresh one: see {@linkcode staleInputs}.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { readVersion } from "./version.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** What makes one package: where its files are, what it compiles, where make packs it. */
export interface PackageSpec {
  /** Its folder in the repository: package.json (without a version), tsconfig.build.json and `files`. */
  readonly dir: string;
  /** Folders whose every .ts file tsconfig.build.json compiles: a file added there makes a built package stale. */
  readonly sources: readonly string[];
  /** Files of `dir` the package ships beside dist/. */
  readonly files: readonly string[];
  /** Where `make packages` packs it, relative to the repository. */
  readonly outDir: string;
}

/** The packages, by the name `scripts/build-package.ts NAME` takes. */
export const packageSpecs = {
  client: { dir: "packages/client", sources: ["src/client"], files: ["README.md", "LICENSE"], outDir: ".nexus/client-package" },
  cli: { dir: "packages/cli", sources: ["src/cli"], files: ["README.md", "LICENSE", "bin/nexus.js"], outDir: ".nexus/cli-package" },
} as const satisfies Record<string, PackageSpec>;

/** A packed package. */
export interface PackedPackage {
  /** Absolute path of the .tgz. */
  readonly tarball: string;
  readonly name: string;
  readonly version: string;
}

/** Builds dist/, checks it, and packs it into `outDir` (absolute; default the spec's); returns the tarball. */
export function buildPackage(spec: PackageSpec, outDir = join(root, spec.outDir)): PackedPackage {
  const packageDir = join(root, spec.dir);
  const dist = join(packageDir, "dist");
  rmSync(dist, { recursive: true, force: true });
  compile(packageDir);
  rewriteDeclarationImports(dist);
  const template = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as Record<string, unknown>;
  checkDependencies(spec, dist, (template.dependencies ?? {}) as Record<string, string>);
  // What tsc emitted maps back to what it read: x.js from x.ts, and imported JSON as itself.
  const emitted = walk(dist).map((f) => relative(dist, f)).filter((f) => f.endsWith(".js") || f.endsWith(".json"));
  // VERSION too: a package built before the version changed is stale.
  const inputs = [...emitted.map((f) => f.replace(/\.js$/, ".ts")), ...["package.json", "tsconfig.build.json", ...spec.files].map((f) => `${spec.dir}/${f}`), "VERSION"];
  writeFileSync(join(dist, "sources.json"), `${JSON.stringify({ sha256: hashes(inputs) }, null, 2)}\n`);
  return pack(packageDir, spec, template, outDir);
}

/** Stages package.json (with the version), `spec.files` and dist/ in `outDir`/package, and runs npm pack there. */
function pack(packageDir: string, spec: PackageSpec, template: Record<string, unknown>, outDir: string): PackedPackage {
  // The version is VERSION's, read now, so packages/ holds no second copy to keep in step.
  const version = readVersion();
  const { name, ...rest } = template;
  const stage = join(outDir, "package");
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  writeFileSync(join(stage, "package.json"), `${JSON.stringify({ name, version, ...rest }, null, 2)}\n`);
  for (const f of spec.files) cpSync(join(packageDir, f), join(stage, f));
  cpSync(join(packageDir, "dist"), join(stage, "dist"), { recursive: true });
  for (const f of readdirSync(outDir)) if (f.endsWith(".tgz")) rmSync(join(outDir, f));
  const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", outDir], {
    cwd: stage, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NPM_CONFIG_UPDATE_NOTIFIER: "false" },
  })) as { filename: string }[];
  return { tarball: join(outDir, packed[0]!.filename), name: String(name), version };
}

/**
 * The inputs of a built package that differ from the files now (changed,
 * gone, or a source file it lacks); empty when the package is current.
 * `stamp` is the package's dist/sources.json.
 */
export function staleInputs(spec: PackageSpec, stamp: { sha256: Record<string, string> }): string[] {
  const built = stamp.sha256;
  const now = hashes(Object.keys(built).filter((f) => existsSync(join(root, f))));
  const changed = Object.keys(built).filter((f) => now[f] !== built[f]);
  const added = spec.sources.flatMap((s) => walk(join(root, s))).map((f) => relative(root, f)).filter((f) => f.endsWith(".ts") && !(f in built));
  return [...changed, ...added].sort();
}

function compile(packageDir: string): void {
  try {
    execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(packageDir, "tsconfig.build.json")], { cwd: root, encoding: "utf8", stdio: "pipe" });
  } catch (error) {
    const out = error as { stdout?: string; stderr?: string };
    throw new Error(`tsc could not build ${relative(root, packageDir)}:\n${out.stdout ?? ""}${out.stderr ?? ""}`, { cause: error });
  }
}

/**
 * tsc rewrites `./x.ts` to `./x.js` in JavaScript but keeps it in .d.ts
 * files. TypeScript 5+ maps it to x.d.ts, but older compilers refuse a `.ts`
 * specifier and other tools look for a .ts file the package does not ship,
 * so the declarations name the .js files as the JavaScript does.
 */
function rewriteDeclarationImports(dist: string): void {
  const relativeTs = /((?:from|import)\s*\(?\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g;
  for (const file of walk(dist).filter((f) => f.endsWith(".d.ts"))) {
    const text = readFileSync(file, "utf8");
    const rewritten = text.replace(relativeTs, (_m, lead: string, quote: string, path: string) => `${lead}${quote}${path}.js${quote}`);
    if (rewritten !== text) writeFileSync(file, rewritten);
  }
}

/**
 * The package declares exactly the packages its JavaScript imports, each
 * pinned to the version the repository's lock file installs (what the tests ran).
 */
function checkDependencies(spec: PackageSpec, dist: string, declared: Record<string, string>): void {
  const bare = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"'./][^"']*)["']|import\s*\(\s*["']([^"'./][^"']*)["']\s*\)|^\s*import\s*["']([^"'./][^"']*)["']/gm;
  const imported = new Set<string>();
  for (const file of walk(dist).filter((f) => f.endsWith(".js"))) {
    for (const m of readFileSync(file, "utf8").matchAll(bare)) {
      const specifier = (m[1] ?? m[2] ?? m[3])!;
      if (specifier.startsWith("node:")) continue;
      const parts = specifier.split("/");
      imported.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!);
    }
  }
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
  const problems = [
    ...[...imported].filter((p) => !(p in declared)).map((p) => `${p} is imported but not in dependencies`),
    ...Object.keys(declared).filter((p) => !imported.has(p)).map((p) => `${p} is in dependencies but never imported`),
    ...Object.entries(declared).filter(([p, v]) => lock.packages[`node_modules/${p}`]?.version !== v)
      .map(([p, v]) => `${p}@${v} is not the version package-lock.json installs (${lock.packages[`node_modules/${p}`]?.version ?? "none"})`),
  ];
  if (problems.length > 0) throw new Error(`${spec.dir}/package.json dependencies are wrong:\n  ${problems.join("\n  ")}`);
}

/** SHA-256 (hex) of each file, by path relative to the repository root. */
function hashes(paths: readonly string[]): Record<string, string> {
  return Object.fromEntries([...paths].sort().map((p) => [p, createHash("sha256").update(readFileSync(join(root, p))).digest("hex")]));
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(packageSpecs);
  const unknown = names.filter((n) => !(n in packageSpecs));
  if (unknown.length > 0) throw new Error(`no package named ${unknown.join(", ")}; the packages are ${Object.keys(packageSpecs).join(", ")}`);
  for (const name of names) {
    const built = buildPackage(packageSpecs[name as keyof typeof packageSpecs]);
    process.stdout.write(`packed ${built.name}@${built.version} into ${relative(process.cwd(), built.tarball)}\n`);
  }
}
