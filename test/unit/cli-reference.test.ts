/**
 * docs/cli.md's generated sections (the manifest reference from the JSON
 * Schema, every command's --help) come from scripts/cli-reference.ts. These
 * tests make `make test` fail when they are stale, when --check cannot tell,
 * or when the generator drops a key, a type or a command.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** Runs the script from the repository root, as make check-gen does; its exit code and output. */
function runScript(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "scripts/cli-reference.ts", ...args], { cwd: root }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr });
    });
  });
}

describe("CLI reference (docs/cli.md)", () => {
  let dir = "";
  let generated = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "nexus-cli-reference-test-"));
    const page = join(dir, "page.md");
    await writeFile(page, "# Page\n\nprose\n\n<!-- generated:manifest-reference -->\n<!-- end:manifest-reference -->\n\nmore prose\n\n" +
      "<!-- generated:command-help -->\nstale\n<!-- end:command-help -->\n");
    const run = await runScript("--file", page);
    assert.equal(run.code, 0, run.stderr);
    generated = await readFile(page, "utf8");
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is up to date (run `npx tsx scripts/cli-reference.ts` when this fails)", async () => {
    const run = await runScript("--check");
    assert.equal(run.code, 0, run.stderr);
  });

  it("--check exits 1 on a stale section and says how to fix it", async () => {
    const stale = join(dir, "stale.md");
    await writeFile(stale, generated.replace("| `client_secret` |", "| `client_secret_typo` |"));
    const run = await runScript("--check", "--file", stale);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /is stale.*first difference at line \d+.*npx tsx scripts\/cli-reference\.ts/s);
  });

  it("refuses a page without the marked sections", async () => {
    const bare = join(dir, "bare.md");
    await writeFile(bare, "# No sections\n");
    const run = await runScript("--check", "--file", bare);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /has no section <!-- generated:manifest-reference -->/);
  });

  it("leaves the prose alone and fills each section", () => {
    assert.ok(generated.startsWith("# Page\n\nprose\n\n<!-- generated:manifest-reference -->\n"));
    assert.ok(generated.includes("\n<!-- end:manifest-reference -->\n\nmore prose\n\n<!-- generated:command-help -->\n"));
    assert.ok(!generated.includes("stale"));
  });

  it("documents every key of the schema with its type", async () => {
    const schema = JSON.parse(await readFile(join(root, "schemas/manifest.v1.schema.json"), "utf8")) as {
      properties: Record<string, unknown>; $defs: Record<string, { properties?: Record<string, unknown> }>;
    };
    const keys = [...Object.keys(schema.properties), ...Object.values(schema.$defs).flatMap((d) => Object.keys(d.properties ?? {}))];
    const missing = keys.filter((k) => !generated.includes(`| \`${k}\` |`));
    assert.deepEqual(missing, []);
    assert.match(generated, /\| `client_secret` \| secret reference: `\$\{env:NAME\}` or `\$\{file:PATH\}` \| {2}\| /);
    assert.match(generated, /\| `providers` \| list of \[provider\]\(#manifest-provider\) \|/);
    assert.match(generated, /\| `auth_type` \| one of `oauth2`, `api_key`/);
    assert.match(generated, /### <a id="manifest-params-auth-strategy"><\/a>`params\.auth_strategy`/);
  });

  it("holds the help of every command", () => {
    for (const command of ["nexus", "nexus agents", "nexus agents create", "nexus agents rotate-key", "nexus agents disable", "nexus agents list",
      "nexus connections list", "nexus connections revoke", "nexus sessions list", "nexus sessions revoke", "nexus audit", "nexus doctor"]) {
      assert.ok(generated.includes(`>\`${command}\`\n\n\`\`\`text\nUsage: ${command} `), command);
    }
    assert.match(generated, /Usage: nexus agents create \[options\] <name>\n/);
    assert.ok(generated.split("\n").every((line) => line.length <= 100 || !line.startsWith(" ")), "help is wrapped at 100 columns");
  });
});
