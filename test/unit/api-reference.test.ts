/**
 * docs/api.md is generated from the proto comments by scripts/api-reference.ts.
 * These tests make `make test` fail when it is stale, when --check cannot tell,
 * or when the generator drops comments, HTTP bindings or error reasons.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the script as `make docs` would, from the repository root, and reports its exit code. */
function runScript(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "scripts/api-reference.ts", ...args], { cwd: root }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("API reference (docs/api.md)", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "nexus-api-reference-test-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is up to date with proto/ (run `make docs` when this fails)", async () => {
    const run = await runScript("--check");
    assert.equal(run.code, 0, run.stderr);
  });

  it("--check exits 1 and says how to fix a stale file", async () => {
    const stale = join(dir, "stale.md");
    await writeFile(stale, "# Nexus API reference\n\nout of date\n");
    const run = await runScript("--check", "--out", stale);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /is stale.*first difference at line 3.*make docs/s);
  });

  it("keeps HTTP bindings, field comments and error reasons", async () => {
    const out = join(dir, "api.md");
    const run = await runScript("--out", out);
    assert.equal(run.code, 0, run.stderr);
    const text = await readFile(out, "utf8");

    assert.ok(text.includes("`GET /v1/token/{connection_id}`"), "the GetToken REST binding");
    assert.match(text, /GET \/v1\/token\/\{connection_id\}`:[^\n]*the response body is the `credential` field/, "its response_body");

    const credential = /### <a id="nexus-common-v1-credential"><\/a>Credential\n[\s\S]*?(?=\n### )/.exec(text)?.[0] ?? "";
    assert.match(credential, /A refresh token never appears here/, "the message comment");
    assert.match(
      credential,
      /\| `expires_at` \| `optional uint32` \| +\| When the credential stops working, in unix seconds\. Absent when it does not\s+expire/,
      "the expires_at row with its comment",
    );

    assert.match(text, /\| `attention_required` \| `failed_precondition` \| 400 \|/, "the attention_required reason");
  });
});
