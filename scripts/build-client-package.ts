/**
 * Builds the agent client as the npm package @nexus-broker/client: tsc
 * compiles src/client/** and the gen/ and src/shared files it imports into
 * packages/client/dist (ESM, .d.ts, source maps with the sources inlined),
 * then `npm pack` writes the tarball a user installs. src/client stays the
 * source of truth; dist/ and the tarball are build output.
 *
 *   npx tsx scripts/build-client-package.ts [outDir]   (default .nexus/client-package)
 *
 * The package carries dist/sources.json, the SHA-256 of every file it was
 * built from, so a test can tell a tarball built before the last change to
 * proto/ (through gen/) or src/client from a fresh one: see {@linkcode staleInputs}.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const packageDir = join(root, "packages/client");
const dist = join(packageDir, "dist");
/** Files of packages/client that shape the package besides the compiled code. */
const packageFiles = ["package.json", "tsconfig.build.json", "README.md", "LICENSE"];

/** A packed package. */
export interface ClientPackage {
  /** Absolute path of the .tgz. */
  readonly tarball: string;
  readonly name: string;
  readonly version: string;
}

/** Builds dist/, checks it, and packs it into `outDir`; returns the tarball. */
export function buildClientPackage(outDir = join(root, ".nexus/client-package")): ClientPackage {
  rmSync(dist, { recursive: true, force: true });
  compile();
  rewriteDeclarationImports();
  const template = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as Record<string, unknown>;
  checkDependencies(template.dependencies as Record<string, string>);
  const compiled = walk(dist).filter((f) => f.endsWith(".js")).map((f) => relative(dist, f).replace(/\.js$/, ".ts"));
  const inputs = [...compiled, ...packageFiles.map((f) => `packages/client/${f}`)];
  writeFileSync(join(dist, "sources.json"), `${JSON.stringify({ sha256: hashes(inputs) }, null, 2)}\n`);
  return pack(template, outDir);
}

/** Stages package.json (with the version), README, LICENSE and dist/ in `outDir`/package, and runs npm pack there. */
function pack(template: Record<string, unknown>, outDir: string): ClientPackage {
  // The version is the repository's, read now, so packages/client holds no second copy to keep in step.
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  const { name, ...rest } = template;
  const stage = join(outDir, "package");
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  writeFileSync(join(stage, "package.json"), `${JSON.stringify({ name, version, ...rest }, null, 2)}\n`);
  for (const f of ["README.md", "LICENSE"]) cpSync(join(packageDir, f), join(stage, f));
  cpSync(dist, join(stage, "dist"), { recursive: true });
  for (const f of readdirSync(outDir)) if (f.endsWith(".tgz")) rmSync(join(outDir, f));
  const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", outDir], {
    cwd: stage, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NPM_CONFIG_UPDATE_NOTIFIER: "false" },
  })) as { filename: string }[];
  return { tarball: join(outDir, packed[0]!.filename), name: String(name), version };
}

/**
 * The inputs of a built package that differ from the files now (changed,
 * gone, or a src/client file it lacks); empty when the package is current.
 * `stamp` is the package's dist/sources.json.
 */
export function staleInputs(stamp: { sha256: Record<string, string> }): string[] {
  const built = stamp.sha256;
  const now = hashes(Object.keys(built).filter((f) => existsSync(join(root, f))));
  const changed = Object.keys(built).filter((f) => now[f] !== built[f]);
  const added = walk(join(root, "src/client")).map((f) => relative(root, f)).filter((f) => f.endsWith(".ts") && !(f in built));
  return [...changed, ...added].sort();
}

function compile(): void {
  try {
    execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(packageDir, "tsconfig.build.json")], { cwd: root, encoding: "utf8", stdio: "pipe" });
  } catch (error) {
    const out = error as { stdout?: string; stderr?: string };
    throw new Error(`tsc could not build the client package:\n${out.stdout ?? ""}${out.stderr ?? ""}`, { cause: error });
  }
}

/**
 * tsc rewrites `./x.ts` to `./x.js` in JavaScript but keeps it in .d.ts
 * files. TypeScript 5+ maps it to x.d.ts, but older compilers refuse a `.ts`
 * specifier and other tools look for a .ts file the package does not ship,
 * so the declarations name the .js files as the JavaScript does.
 */
function rewriteDeclarationImports(): void {
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
function checkDependencies(declared: Record<string, string>): void {
  const bare = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"'./][^"']*)["']/gm;
  const imported = new Set<string>();
  for (const file of walk(dist).filter((f) => f.endsWith(".js"))) {
    for (const m of readFileSync(file, "utf8").matchAll(bare)) {
      if (m[1]!.startsWith("node:")) continue;
      const parts = m[1]!.split("/");
      imported.add(m[1]!.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!);
    }
  }
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
  const problems = [
    ...[...imported].filter((p) => !(p in declared)).map((p) => `${p} is imported but not in dependencies`),
    ...Object.keys(declared).filter((p) => !imported.has(p)).map((p) => `${p} is in dependencies but never imported`),
    ...Object.entries(declared).filter(([p, v]) => lock.packages[`node_modules/${p}`]?.version !== v)
      .map(([p, v]) => `${p}@${v} is not the version package-lock.json installs (${lock.packages[`node_modules/${p}`]?.version ?? "none"})`),
  ];
  if (problems.length > 0) throw new Error(`packages/client/package.json dependencies are wrong:\n  ${problems.join("\n  ")}`);
}

/** SHA-256 (hex) of each file, by path relative to the repository root. */
function hashes(paths: readonly string[]): Record<string, string> {
  return Object.fromEntries([...paths].sort().map((p) => [p, createHash("sha256").update(readFileSync(join(root, p))).digest("hex")]));
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outDir = process.argv[2] === undefined ? undefined : resolve(process.argv[2]);
  const built = buildClientPackage(outDir);
  process.stdout.write(`packed ${built.name}@${built.version} into ${relative(process.cwd(), built.tarball)}\n`);
}
