import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { build } from "esbuild";

const root = new URL("../../", import.meta.url).pathname;

describe("the client bundles for browsers", () => {
  it("esbuild bundles src/client/mod.ts for platform browser with no node: import and no require()", async () => {
    const result = await build({
      entryPoints: [`${root}src/client/mod.ts`],
      bundle: true,
      write: false,
      platform: "browser",
      format: "esm",
      logLevel: "silent",
      metafile: true,
    });
    assert.deepEqual(result.errors, []);
    const text = result.outputFiles.map((f) => f.text).join("\n");
    assert.ok(text.length > 10_000, "the bundle holds the client");
    assert.ok(text.includes("createNexusClient") && text.includes("maintainWebSocket"), "the public API is in it");
    assert.doesNotMatch(text, /["']node:/, "no node: import");
    assert.ok(!text.includes('require("'), "no require(\"");
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(!inputs.some((p) => /prom-client|connect-node|src\/(broker|gateway|runtime)\//.test(p)), `server-side code stayed out: ${inputs.filter((p) => /prom-client|connect-node|src\/(broker|gateway|runtime)\//.test(p)).join(", ")}`);
  });
});
