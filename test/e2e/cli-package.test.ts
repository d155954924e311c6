/**
 * The `nexus` command as an operator gets it outside a checkout: the tarball
 * `make packages` packs (built now when there is none), installed with plain
 * `npm install` into a fresh project, and run as `npx nexus` by plain node
 * (no tsx, no NODE_OPTIONS) against a real Broker: --version, doctor, and a
 * manifest planned, applied and planned again.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageSpecs, staleInputs } from "../../scripts/build-package.ts";
import { docsBlock } from "../support/docs-stack.ts";
import { cliEnv } from "../support/fake-cli-io.ts";
import { createPackageProject, type PackageProject, packedTarball, type RunResult } from "../support/package-project.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const root = new URL("../../", import.meta.url).pathname;

const manifest = `version: 1
providers:
  - name: weather-api
    auth_type: api_key
    description: Forecasts for the travel agent
agents:
  - name: travel-agent
    allowed_providers: [weather-api]
`;

/** Every package the root lock installs for `names`, with everything they depend on. */
function lockClosure(lock: { packages: Record<string, { dependencies?: Record<string, string> }> }, names: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const dep of Object.keys(lock.packages[`node_modules/${name}`]?.dependencies ?? {})) visit(dep);
  };
  names.forEach(visit);
  return seen;
}

describe("the @nexus-broker/cli package, installed from its tarball into a new project", () => {
  let stack: TestStack;
  let project: PackageProject;
  let tarball: string;
  let installed: string;
  const outputs: string[] = [];

  before(async () => {
    tarball = packedTarball(packageSpecs.cli);
    [project, stack] = await Promise.all([createPackageProject(tarball), startStack({ brokerOnly: true })]);
    installed = join(project.dir, "node_modules/@nexus-broker/cli");
    await project.write("nexus.yaml", manifest);
  });
  after(async () => {
    await stack?.close();
    await project?.close();
  });

  /**
   * `npx nexus ...args` in the project, configured for the stack's Broker by
   * the environment; `direct` runs the installed bin itself (node_modules/.bin/nexus,
   * its shebang's node), as a script on PATH would, without npx's second of startup.
   */
  async function nexus(args: string[], direct = false): Promise<RunResult> {
    const [command, argv] = direct ? [join(project.dir, "node_modules/.bin/nexus"), args] : ["npx", ["nexus", ...args]];
    const run = await project.run(command, argv, { env: cliEnv(stack), timeoutMs: 30_000 });
    outputs.push(run.stdout, run.stderr);
    return run;
  }

  it("is a fresh build of the sources as they are now, at the repository's version, and installs its dependencies and nothing else", async () => {
    const stamp = JSON.parse(await readFile(join(installed, "dist/sources.json"), "utf8")) as { sha256: Record<string, string> };
    assert.deepEqual(staleInputs(packageSpecs.cli, stamp), [], "the tarball was packed from older sources (proto/ through gen/, src/cli or the schema): run make packages");
    for (const f of ["src/runtime/node/nexus-cli.ts", "schemas/manifest.v1.schema.json", "gen/nexus/broker/v1/provider_service_pb.ts", "packages/cli/bin/nexus.js"]) {
      assert.ok(f in stamp.sha256, `${f} is built into the package`);
    }
    assert.deepEqual(Object.keys(stamp.sha256).filter((f) => f.startsWith("src/runtime/")), ["src/runtime/node/nexus-cli.ts"], "the entry is the only runtime file inside");
    // src/shared's input rules and error reasons are the one definition the CLI checks manifests against.
    assert.ok(!Object.keys(stamp.sha256).some((f) => /^src\/(broker|gateway|client)\//.test(f)), "nothing server-side, and not the agent client");
    assert.deepEqual(staleInputs(packageSpecs.cli, { sha256: { ...stamp.sha256, "schemas/manifest.v1.schema.json": "0".repeat(64) } }), ["schemas/manifest.v1.schema.json"]);

    const pkg = JSON.parse(await readFile(join(installed, "package.json"), "utf8")) as { version: string; bin: unknown; dependencies: Record<string, string> };
    const rootPkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string; dependencies: Record<string, string> };
    assert.equal(pkg.version, rootPkg.version);
    assert.deepEqual(pkg.bin, { nexus: "bin/nexus.js" });
    assert.deepEqual(Object.keys(pkg.dependencies).sort(), ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web", "ajv", "commander", "yaml"]);
    for (const [name, version] of Object.entries(pkg.dependencies)) assert.equal(version, rootPkg.dependencies[name], name);

    const lock = JSON.parse(await readFile(join(root, "package-lock.json"), "utf8")) as Parameters<typeof lockClosure>[0];
    const expected = [...lockClosure(lock, Object.keys(pkg.dependencies)), "@nexus-broker/cli"].sort();
    const { stdout } = await project.run("npm", ["ls", "--all", "--parseable"]);
    const packages = stdout.trim().split("\n").slice(1).map((p) => p.slice(project.dir.length + "/node_modules/".length)).sort();
    assert.deepEqual(packages, expected, "only the dependencies and theirs were installed");
    assert.equal(packages.length, 11, "ten packages and the command, as docs/cli.md says");
    assert.ok(!packages.includes("tsx") && !packages.includes("esbuild"), "no TypeScript loader");
  });

  it("--version prints the repository's version", async () => {
    const { version } = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
    assert.deepEqual(await nexus(["--version"]), { code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("doctor passes against the Broker, and prints what the package's README shows", async () => {
    const { code, stdout, stderr } = await nexus(["doctor"]);
    assert.equal(code, 0, `${stdout}${stderr}`);
    assert.equal(stdout.replaceAll(stack.broker.url, "http://localhost:8080"), docsBlock("packages/cli/README.md", "package-doctor", "console"));
  });

  it("plans a manifest (exit 2), applies it (exit 0) and then plans no changes (exit 0) with the installed bin, checking it against the schema inside the package", async () => {
    const planned = await nexus(["plan", "-f", "nexus.yaml"], true);
    assert.equal(planned.code, 2, planned.stderr);
    assert.match(planned.stdout, /\+ create provider weather-api\n[\s\S]*\+ create agent travel-agent\n[\s\S]*Plan: 2 to create, 0 to update, 0 to delete\./);

    const applied = await nexus(["apply", "-f", "nexus.yaml", "--yes"], true);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /^travel-agent nxa_[A-Za-z0-9_-]+\n$/, "stdout is the new agent's key line, nothing else");
    assert.match(applied.stderr, /Applied: 2 created, 0 updated, 0 deleted/);

    const replanned = await nexus(["plan", "-f", "nexus.yaml"], true);
    assert.equal(replanned.code, 0, replanned.stderr);
    assert.match(replanned.stdout, /No changes: the Broker at \S+ matches nexus\.yaml\./);

    // The schema travels in the package: a key it does not allow is refused by name, before the Broker is asked.
    await project.write("bad.yaml", manifest.replace("auth_type: api_key", "auth_type: api_key\n    api_key: sk_live"));
    const refused = await nexus(["plan", "-f", "bad.yaml"], true);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /bad\.yaml:5:5: \$\.providers\[0\]\.api_key: unknown key "api_key"/);
    assert.ok(!outputs.join("").includes(stack.adminKey), "the admin key is never printed");
  });

  it("runs without installing, as npx --package <tarball> nexus, from a folder with no project", async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), "nexus-no-project-"));
    try {
      const { code, stdout, stderr } = await project.run("npx", ["--yes", "--prefer-offline", "--package", tarball, "nexus", "doctor"], {
        cwd: elsewhere, env: cliEnv(stack), timeoutMs: 120_000,
      });
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^all checks passed\.$/m);
      assert.deepEqual(await readdir(elsewhere), [], "nothing was installed here");
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });
});
