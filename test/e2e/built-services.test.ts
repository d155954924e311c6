import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { buildServices } from "../../scripts/build-services.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { freePort } from "../support/free-port.ts";

const root = new URL("../../", import.meta.url).pathname;
// Three levels below the checkout, like .nexus/build/node, so the bundles find sql/.
const outDir = `${root}.nexus/build-test/node`;

async function waitHealthy(url: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`exited early: ${log()}`);
    if ((await fetch(`${url}/healthz`).catch(() => undefined))?.ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not healthy in 30 s: ${log()}`);
}

describe("make build: the bundled services on plain Node", () => {
  let db: TestDatabase;
  const children: ChildProcess[] = [];
  const adminKey = `admin-${randomBytes(16).toString("hex")}`;
  const agentKey = `agent-${randomBytes(16).toString("hex")}`;
  let brokerUrl: string;
  let gatewayUrl: string;
  let env: Record<string, string>;

  async function start(entry: string, extra: Record<string, string>, url: string): Promise<void> {
    let log = "";
    // No --import tsx: the bundle must run on Node alone.
    const child = spawn(process.execPath, [`${outDir}/${entry}.mjs`], { cwd: root, env: { ...process.env, ...env, ...extra }, stdio: ["ignore", "ignore", "pipe"] });
    child.stderr!.on("data", (d) => (log += d));
    children.push(child);
    await waitHealthy(url, child, () => log);
  }

  before(async () => {
    await buildServices(outDir);
    db = await createTestDatabase();
    const [brokerPort, gatewayPort] = [await freePort(), await freePort()];
    brokerUrl = `http://127.0.0.1:${brokerPort}`;
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    env = {
      DATABASE_URL: db.url, ENCRYPTION_KEY: randomBytes(32).toString("base64"), STATE_KEY: randomBytes(32).toString("base64"),
      API_KEY: adminKey, BASE_URL: brokerUrl, ALLOWED_RETURN_DOMAINS: "localhost", LOG_LEVEL: "warn",
    };
    await start("broker", { BROKER_PORT: String(brokerPort) }, brokerUrl);
    await start("gateway", { BROKER_URL: brokerUrl, BROKER_API_KEY: adminKey, AGENT_API_KEYS: agentKey, GATEWAY_PORT: String(gatewayPort) }, gatewayUrl);
  });
  after(async () => {
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : undefined)));
    await db?.close();
    rmSync(`${root}.nexus/build-test`, { recursive: true, force: true });
  });

  it("migrate finds sql/ next to the checkout and has nothing left to apply", () => {
    const run = spawnSync(process.execPath, [`${outDir}/migrate.mjs`], { cwd: root, env: { ...process.env, DATABASE_URL: db.url }, encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
  });

  it("serves the whole token path: provider, connection, capture, then the token over REST and gRPC", async () => {
    const registered = await fetch(`${brokerUrl}/providers`, {
      method: "POST", headers: { "x-api-key": adminKey, "content-type": "application/json" },
      body: JSON.stringify({ profile: { name: "built-check", auth_type: "api_key" } }),
    });
    assert.equal(registered.status, 201, await registered.clone().text());
    const started = (await (await fetch(`${gatewayUrl}/v1/request-connection`, {
      method: "POST", headers: { authorization: `Bearer ${agentKey}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: "u1", provider_name: "built-check", return_url: "http://localhost/done" }),
    })).json()) as { connection_id: string; state: string };
    const captured = await fetch(`${gatewayUrl}/v1/capture-credential`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ state: started.state, credentials: { api_key: "sk_built_1" } }),
    });
    assert.equal(((await captured.json()) as { status: string }).status, "active");
    const rest = (await (await fetch(`${gatewayUrl}/v1/token/${started.connection_id}`, { headers: { authorization: `Bearer ${agentKey}` } })).json()) as {
      credentials: { api_key: string };
    };
    assert.equal(rest.credentials.api_key, "sk_built_1");
    const client = createClient(GatewayService, createGrpcTransport({ baseUrl: gatewayUrl }));
    const grpc = await client.getToken({ connectionId: started.connection_id }, { headers: { authorization: `Bearer ${agentKey}` } });
    assert.equal(grpc.credential?.credentials.api_key, "sk_built_1");
  });
});
