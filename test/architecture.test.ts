import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { inputLimits, inputPatterns } from "../src/shared/input-rules.ts";
import { checkArchitecture, checkNoMessageParsing, checkRulesDefinedOnce, importsOf, type SourceFile } from "./support/architecture-rules.ts";
import { checkServiceDeps } from "./support/service-deps-rules.ts";

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

  describe("each service declares the dependencies it uses (no service locator)", () => {
    it("holds for src/broker/services/ and src/broker/refresh/", () => {
      const files = sources(join(root, "src"));
      assert.deepEqual(checkServiceDeps(files), []);
    });

    const service = (body: string, deps = "  readonly connections: Pick<ConnectionStore, \"get\">;\n  readonly now: () => number;\n") =>
      `export interface XServiceDeps {\n${deps}}\n\nexport function createXService(deps: XServiceDeps): XService {\n${body}\n}\n`;
    const reads = "  return { get: async (id) => ({ c: await deps.connections.get(id), at: deps.now() }) };";
    const cases: [string, SourceFile[], RegExp][] = [
      ["a service taking a deps object declared elsewhere", [
        { path: "src/broker/services/service-deps.ts", source: "export interface ServiceDeps {\n  readonly now: () => number;\n}\n" },
        { path: "src/broker/services/x-service.ts", source: `import type { ServiceDeps } from "./service-deps.ts";\nexport function createXService(deps: ServiceDeps) {\n  return deps.now();\n}\n` },
      ], /in its own file/],
      ["a service taking a slice of a shared deps object", [
        { path: "src/broker/services/x-check.ts", source: `export async function checkX(deps: Pick<ServiceDeps, "fetch">) {\n  return deps.fetch("x");\n}\n` },
      ], /in its own file/],
      ["a deps member the service never reads", [
        { path: "src/broker/services/x-service.ts", source: service(reads, "  readonly connections: Pick<ConnectionStore, \"get\">;\n  readonly now: () => number;\n  readonly logger: Logger;\n") },
      ], /names only what the service uses/],
      ["a picked port method the service never calls", [
        { path: "src/broker/services/x-service.ts", source: service(reads, "  readonly connections: Pick<ConnectionStore, \"get\" | \"revoke\">;\n  readonly now: () => number;\n") },
      ], /names only what the service uses/],
      ["deps handed whole to a function the rule cannot follow", [
        { path: "src/broker/services/x-service.ts", source: service(`  return somewhereElse(deps);`) },
      ], /hands its deps on whole only to a checked service/],
    ];
    for (const [name, files, rule] of cases) {
      it(`catches ${name}`, () => {
        const violations = checkServiceDeps(files);
        assert.ok(violations.some((v) => rule.test(v.rule)), `expected a violation matching ${rule}, got ${JSON.stringify(violations)}`);
      });
    }

    it("counts reads, destructuring, same-file helpers and deps handed to a checked service as uses", () => {
      const outer = service(
        "  const { now } = deps;\n  const inner = createYService({ ...deps, extra: 1 });\n  return { at: now(), c: find(deps), inner };",
        "  readonly connections: Pick<ConnectionStore, \"get\">;\n  readonly now: () => number;\n  readonly audit: AuditLog;\n",
      ) + "\nfunction find(deps: Pick<XServiceDeps, \"connections\">) {\n  return deps.connections.get(\"1\");\n}\n";
      const inner = "export interface YServiceDeps {\n  readonly audit: AuditLog;\n  readonly extra: number;\n}\n\n" +
        "export function createYService(deps: YServiceDeps) {\n  return () => deps.audit.record({ n: deps.extra });\n}\n";
      assert.deepEqual(checkServiceDeps([
        { path: "src/broker/services/x-service.ts", source: outer },
        { path: "src/broker/services/y-service.ts", source: inner },
      ]), []);
    });
  });
});
