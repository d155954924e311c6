/**
 * The agent client as a user gets it: the tarball `make packages`
 * packs (built now when there is none), installed with plain `npm install`
 * into a fresh project outside the repository, then used as its README says,
 * against a stack set up as `make run` sets it up: the README's agent with
 * plain node while "alice" enters the sandbox key it asks for, the gRPC entry
 * from plain node, a TypeScript consumer under tsc's default settings, the
 * same agent in Deno, and an esbuild bundle in Chromium calling the Gateway
 * from another origin. The user's files are in client-package-user/.
 */
import assert from "node:assert/strict";
import { copyFile, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { build } from "esbuild";
import { type Browser, chromium } from "playwright-core";
import { packageSpecs, staleInputs } from "../../scripts/build-package.ts";
import { docsBlock, type DocsStack, startDocsStack } from "../support/docs-stack.ts";
import { restClient } from "../support/gateway-clients.ts";
import { createPackageProject, type PackageProject, packedTarball, type RunResult } from "../support/package-project.ts";

const root = new URL("../../", import.meta.url).pathname;
const userFiles = join(root, "test/e2e/client-package-user");
const bin = (name: string) => join(root, "node_modules/.bin", name);

/** Serves the browser agent's page and bundle; the Gateway allows its origin (CORS_ALLOWED_ORIGINS). */
function startPageServer(files: Map<string, string>): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const body = files.get(path === "/" ? "/index.html" : path);
    res.writeHead(body === undefined ? 404 : 200, { "content-type": path.endsWith(".js") ? "text/javascript" : "text/html; charset=utf-8" });
    res.end(body ?? "not found");
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => {
    resolve({ server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
  }));
}

describe("the @nexus-broker/client package, installed from its tarball into a new project", () => {
  let docs: DocsStack;
  let project: PackageProject;
  let installed: string;
  let page: { server: Server; origin: string };
  const pageFiles = new Map<string, string>();
  let browser: Browser | undefined;
  let bobConnection = "";
  let env: Record<string, string>;

  before(async () => {
    const tarball = packedTarball(packageSpecs.client);
    project = await createPackageProject(tarball);
    installed = join(project.dir, "node_modules/@nexus-broker/client");
    page = await startPageServer(pageFiles);
    docs = await startDocsStack({}, { CORS_ALLOWED_ORIGINS: page.origin });
    env = { NEXUS_GATEWAY_URL: docs.gatewayUrl, NEXUS_AGENT_KEY: docs.env.AGENT_KEY!, SANDBOX_API_URL: docs.sandbox.apiUrl };
    // bob connected the sandbox API earlier, through the Gateway's capture flow.
    const started = await restClient(docs.gatewayUrl, docs.env.AGENT_KEY).requestConnection({ user_id: "bob", provider_name: "sandbox-api", return_url: "http://localhost:8090/" });
    await restClient(docs.gatewayUrl).captureCredential(String(started.state), { api_key: docs.sandbox.apiKey });
    bobConnection = String(started.connection_id);
    for (const f of ["agent-grpc.mjs", "browser-agent.js", "consumer.ts", "browser-consumer.ts", "tsconfig.strict.json"]) {
      await copyFile(join(userFiles, f), join(project.dir, f));
    }
  });
  after(async () => {
    await browser?.close();
    await new Promise((r) => page?.server.close(r));
    await docs?.close();
    await project?.close();
  });

  /**
   * Runs the README's agent with `command`, acting as alice: when it prints
   * the link, she opens it and enters the sandbox key (the capture page's POST).
   */
  async function runReadmeAgent(command: string, args: string[], extraEnv: Record<string, string> = {}): Promise<RunResult> {
    await project.write("agent.mjs", docsBlock("docs/agents-typescript.md", "package-agent", "js"));
    let capture: Promise<string> | undefined;
    const result = await project.run(command, args, {
      env: { ...env, ...extraEnv },
      timeoutMs: 30_000,
      onLine(line) {
        const link = /^alice, please open (\S+)$/.exec(line)?.[1];
        if (link === undefined) return;
        capture = restClient(docs.gatewayUrl).captureCredential(new URL(link).searchParams.get("state")!, { api_key: docs.sandbox.apiKey })
          .then((r) => String(r.status), (error: unknown) => `capture failed: ${String(error)}`);
      },
    });
    assert.equal(await capture, "active", `alice's capture:\n${result.stdout}\n${result.stderr}`);
    assert.equal(result.code, 0, `${command} agent.mjs failed:\n${result.stdout}\n${result.stderr}`);
    return result;
  }

  it("is a fresh build of the sources as they are now, at the repository's version, with only its dependencies", async () => {
    const stamp = JSON.parse(await readFile(join(installed, "dist/sources.json"), "utf8")) as { sha256: Record<string, string> };
    assert.deepEqual(staleInputs(packageSpecs.client, stamp), [], "the tarball was packed from older sources (proto/ through gen/, or src/client): run make packages");
    assert.ok("gen/nexus/gateway/v1/gateway_service_pb.ts" in stamp.sha256 && "src/shared/until-aborted.ts" in stamp.sha256, "the generated code travels inside");
    assert.ok(!Object.keys(stamp.sha256).some((f) => /^(gen\/(grpc|nexus\/broker)|src\/(broker|gateway|runtime))\//.test(f)), "nothing server-side is inside");
    // The check can fail: a file changed since the build is named.
    assert.deepEqual(staleInputs(packageSpecs.client, { sha256: { ...stamp.sha256, "src/client/mod.ts": "0".repeat(64) } }), ["src/client/mod.ts"]);

    const manifest = JSON.parse(await readFile(join(installed, "package.json"), "utf8")) as Record<string, unknown>;
    const rootManifest = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string; dependencies: Record<string, string> };
    assert.equal(manifest.version, rootManifest.version);
    const deps = manifest.dependencies as Record<string, string>;
    assert.deepEqual(Object.keys(deps).sort(), ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-node", "@connectrpc/connect-web", "aws4fetch", "jose"]);
    for (const [name, version] of Object.entries(deps)) assert.equal(version, rootManifest.dependencies[name], name);
    const { stdout } = await project.run("npm", ["ls", "--all", "--parseable"]);
    const packages = stdout.trim().split("\n").slice(1).map((p) => p.slice(project.dir.length + "/node_modules/".length)).sort();
    assert.deepEqual(packages, [...Object.keys(deps), "@nexus-broker/client"].sort(), "nothing else was installed");
  });

  it("runs the README's agent with plain node: asks for alice's connection, waits for her, gets her credential and calls the API", async () => {
    const readme = await readFile(join(installed, "README.md"), "utf8");
    assert.ok(readme.includes(docsBlock("docs/agents-typescript.md", "package-agent", "js")), "the README in the package shows the agent the docs show");
    const { stdout, stderr } = await runReadmeAgent(process.execPath, ["agent.mjs"]);
    const lines = stdout.trim().split("\n");
    assert.match(lines[0]!, /^alice, please open http:\/\/127\.0\.0\.1:1\/auth\/capture\?state=\S+$/);
    assert.deepEqual(lines.slice(1), ["credential: header api_key", '200 {"user":"sandbox-user","plan":"free"}']);
    for (const secret of [docs.sandbox.apiKey, docs.env.AGENT_KEY!]) assert.ok(!`${stdout}${stderr}`.includes(secret), "no secret printed or logged");
  });

  it("@nexus-broker/client/node: gRPC over HTTP/2 from plain node, typed errors included", async () => {
    const { code, stdout, stderr } = await project.run(process.execPath, ["agent-grpc.mjs"], {
      env: { ...env, CONNECTION_ID: bobConnection, EXPECTED_KEY: docs.sandbox.apiKey },
    });
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), { status: "active", strategy: "header", keyMatches: true, error: "connection_not_found" });
  });

  it("type-checks with tsc's default settings (tsc --init), and the browser entry with skipLibCheck off and no @types/node", async () => {
    assert.equal((await project.run(bin("tsc"), ["--init"])).code, 0);
    assert.match(await readFile(join(project.dir, "tsconfig.json"), "utf8"), /"module": "nodenext"/);
    for (const config of ["tsconfig.json", "tsconfig.strict.json"]) {
      const { code, stdout } = await project.run(bin("tsc"), ["-p", config, "--noEmit"]);
      assert.deepEqual({ code, stdout }, { code: 0, stdout: "" }, config);
    }
  });

  it("runs the README's agent in Deno, from the project's node_modules", async () => {
    const { stdout } = await runReadmeAgent(bin("deno"), ["run", "-A", "agent.mjs"], { DENO_NO_UPDATE_CHECK: "1" });
    assert.deepEqual(stdout.trim().split("\n").slice(1), ["credential: header api_key", '200 {"user":"sandbox-user","plan":"free"}']);
  });

  it("bundles for the browser with esbuild and calls the Gateway from Chromium, cross-origin, over Connect and gRPC-Web", async () => {
    const bundle = await build({
      entryPoints: [join(project.dir, "browser-agent.js")], absWorkingDir: project.dir,
      bundle: true, platform: "browser", format: "esm", write: false, metafile: true, logLevel: "silent",
    });
    const inputs = Object.keys(bundle.metafile.inputs);
    assert.ok(inputs.includes("node_modules/@nexus-broker/client/dist/src/client/mod.js"), "bundled from the installed package");
    assert.ok(!inputs.some((i) => i.includes("connect-node")), "the Node entry stayed out");
    pageFiles.set("/agent.js", bundle.outputFiles[0]!.text);
    pageFiles.set("/index.html", await readFile(join(userFiles, "index.html"), "utf8"));

    browser = await chromium.launch({
      executablePath: process.env.NEXUS_CHROMIUM ?? "/usr/bin/chromium", headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update"],
    });
    const tab = await browser.newPage();
    const problems: string[] = [];
    tab.on("console", (m) => void (m.type() === "error" && problems.push(m.text())));
    tab.on("pageerror", (e) => void problems.push(e.message));
    const query = new URLSearchParams({ gateway: docs.gatewayUrl, key: docs.env.AGENT_KEY!, connection: bobConnection });
    await tab.goto(`${page.origin}/?${query}`);
    await tab.locator("#result[data-done='1']").waitFor({ timeout: 15_000 });
    const results = JSON.parse(await tab.locator("#result").innerText()) as unknown[];
    const expected = { status: "active", strategy: "header", apiKey: docs.sandbox.apiKey };
    assert.deepEqual(results, [{ transport: "connect", ...expected }, { transport: "grpc-web", ...expected }]);
    assert.deepEqual(problems, []);
  });
});
