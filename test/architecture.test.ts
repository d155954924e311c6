import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { checkArchitecture, importsOf, type SourceFile } from "./support/architecture-rules.ts";

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

  it("allows the vault and runtime entries to import node:*", () => {
    assert.deepEqual(checkArchitecture([
      { path: "src/broker/vault/vault.ts", source: `import { randomBytes } from "node:crypto";` },
      { path: "src/runtime/node/serve.ts", source: `import * as http2 from "node:http2";\nprocess.exit(0);` },
    ]), []);
  });
});
