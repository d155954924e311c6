import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { inputLimits, inputPatterns } from "../src/shared/input-rules.ts";
import { checkArchitecture, checkNoMessageParsing, checkRulesDefinedOnce, importsOf, type SourceFile } from "./support/architecture-rules.ts";

const root = new URL("../", import.meta.url).pathname;

function sources(dir: string): SourceFile[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [{ path: relative(root, path), source: readFileSync(path, "utf8") }] : [];
  });
}

describe("architecture", () => {
  it("src/ keeps every layer boundary", () => {
    const files = sources(join(root, "src"));
    assert.ok(files.length > 20, "the scan found the source tree");
    assert.deepEqual(checkArchitecture(files), []);
  });

  it("importsOf() finds static, type-only, re-export, side-effect and dynamic imports", () => {
    const src = `import a from "a";\nimport type { B } from "./b.ts";\nexport { c } from "../c.ts";\nimport "./d.ts";\nconst e = await import("node:e");`;
    assert.deepEqual(importsOf(src), ["a", "./b.ts", "../c.ts", "./d.ts", "node:e"]);
  });

  // Each rule must be able to fail: feed it the violation it exists to catch.
  const cases: [string, SourceFile, RegExp][] = [
    ["a handler importing a repository", { path: "src/broker/handlers/x.ts", source: `import { r } from "../repositories/provider-repository.ts";` }, /handlers reach data only through services/],
    ["a handler importing postgres", { path: "src/broker/handlers/x.ts", source: `import postgres from "postgres";` }, /handlers reach data only through services/],
    ["a service importing the vault", { path: "src/broker/services/x.ts", source: `import { v } from "../vault/vault.ts";` }, /services depend on ports/],
    ["a service importing generated code", { path: "src/broker/services/x.ts", source: `import { S } from "../../../gen/nexus/broker/v1/provider_service_pb.ts";` }, /services depend on ports/],
    ["a repository importing a service", { path: "src/broker/repositories/x.ts", source: `import { s } from "../services/provider-service.ts";` }, /repositories and the vault/],
    ["the Gateway importing Broker code", { path: "src/gateway/x.ts", source: `import { c } from "../broker/config.ts";` }, /Gateway reaches the Broker only over RPC/],
    ["shared code importing node:*", { path: "src/shared/x.ts", source: `import { readFile } from "node:fs/promises";` }, /only runtime entries and the vault import node/],
    ["a handler importing node:crypto", { path: "src/broker/handlers/x.ts", source: `import { randomBytes } from "node:crypto";` }, /only runtime entries and the vault import node/],
    ["core code using process", { path: "src/gateway/x.ts", source: `const p = process.env.X;` }, /runtime globals/],
    ["the client importing the Broker", { path: "src/client/x.ts", source: `import { b } from "../broker/app.ts";` }, /agent client depends on nothing server-side/],
    ["the web app importing Gateway code", { path: "src/web-app/x.ts", source: `import { g } from "../gateway/app.ts";` }, /web app runs in the browser/],
  ];
  for (const [name, file, rule] of cases) {
    it(`catches ${name}`, () => {
      const violations = checkArchitecture([file]);
      assert.ok(violations.some((v) => rule.test(v.rule)), `expected a violation matching ${rule}, got ${JSON.stringify(violations)}`);
    });
  }

  it("every input rule is defined once, in src/shared/input-rules.ts", () => {
    assert.deepEqual(checkRulesDefinedOnce(sources(join(root, "src")), inputPatterns, inputLimits), []);
  });

  for (const [name, source] of [
    ["a UUID pattern written again", `const id = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;`],
    ["a scope-token pattern written again", `if (!/^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$/.test(s)) bad();`],
    ["a state limit written again", `  if (value.length > 2048) throw invalidArgument(field, "is not a state Nexus issued");`],
    ["a page size limit written again", `if (limit < 1 || limit > 500) throw invalidArgument("page_size", "must be from 1 to 500");`],
  ] as const) {
    it(`catches ${name}`, () => {
      const found = checkRulesDefinedOnce([{ path: "src/gateway/x.ts", source }], inputPatterns, inputLimits);
      assert.equal(found.length, 1, JSON.stringify(found));
    });
  }

  it("leaves lengths alone that refuse nothing, and the shared module itself", () => {
    assert.deepEqual(checkRulesDefinedOnce([
      { path: "src/broker/x.ts", source: `const named = s.length > 64 ? s.slice(0, 64) : s;` },
      { path: "src/shared/input-rules.ts", source: `export const inputPatterns = { uuid: ${inputPatterns.uuid} };` },
    ], inputPatterns, inputLimits), []);
  });

  it("the client, the web app and the CLI never parse an error's message text", () => {
    const files = sources(join(root, "src"));
    assert.ok(files.some((f) => f.path.startsWith("src/web-app/")), "the scan reads the web app");
    assert.deepEqual(checkNoMessageParsing(files), []);
  });

  for (const source of [
    `const prefix = /^([a-z][a-z0-9_]*): /.exec(err.rawMessage)?.[1];`,
    `if (/no route for \\w+/.test(message)) return "wrong URL";`,
    `const reason = e.rawMessage.split(": ")[0];`,
    `const text = error.message.replace(/^[a-z_]+: /, "");`,
  ]) {
    it(`catches message parsing: ${source}`, () => {
      assert.equal(checkNoMessageParsing([{ path: "src/client/x.ts", source }]).length, 1);
      assert.deepEqual(checkNoMessageParsing([{ path: "src/shared/x.ts", source }]), [], "servers may read connect-es's own messages");
    });
  }

  it("allows the vault and runtime entries to import node:*", () => {
    assert.deepEqual(checkArchitecture([
      { path: "src/broker/vault/vault.ts", source: `import { randomBytes } from "node:crypto";` },
      { path: "src/runtime/node/serve.ts", source: `import * as http2 from "node:http2";\nprocess.exit(0);` },
    ]), []);
  });
});
