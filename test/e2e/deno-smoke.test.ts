import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { freePort } from "../support/free-port.ts";
import { grpcJsClient } from "../support/grpc-js.ts";

const root = new URL("../../", import.meta.url).pathname;
const deno = `${root}node_modules/.bin/deno`;

async function waitHealthy(url: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`exited early: ${log()}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not healthy in 30 s: ${log()}`);
}

describe("the same servers under Deno", () => {
  let db: TestDatabase;
  const children: ChildProcess[] = [];
  let gatewayUrl: string;
  const agentKey = `agent-${randomBytes(16).toString("hex")}`;

  async function startUnderDeno(entry: string, env: Record<string, string>, url: string): Promise<void> {
    let log = "";
    const child = spawn(deno, ["run", "-A", `src/runtime/deno/${entry}.ts`], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    child.stderr!.on("data", (d) => (log += d));
    children.push(child);
    await waitHealthy(url, child, () => log);
  }

  before(async () => {
    db = await createTestDatabase();
    await db.sql`insert into providers (id, name, auth_type) values (${randomUUID()}, 'deno-check', 'api_key')`;
    const [brokerPort, gatewayPort] = [await freePort(), await freePort()];
    const adminKey = `admin-${randomBytes(16).toString("hex")}`;
    await startUnderDeno("broker", {
      DATABASE_URL: db.url, ENCRYPTION_KEY: randomBytes(32).toString("base64"), STATE_KEY: randomBytes(32).toString("base64"),
      API_KEY: adminKey, BASE_URL: "http://127.0.0.1", ALLOWED_RETURN_DOMAINS: "localhost", BROKER_PORT: String(brokerPort),
    }, `http://127.0.0.1:${brokerPort}`);
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    await startUnderDeno("gateway", {
      BROKER_URL: `http://127.0.0.1:${brokerPort}`, BROKER_API_KEY: adminKey, AGENT_API_KEYS: agentKey, GATEWAY_PORT: String(gatewayPort),
    }, gatewayUrl);
  });
  after(async () => {
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : undefined)));
    await db.close();
  });

  it("answers gRPC (grpc-js over h2c), through the Gateway to the Broker, both under Deno", async () => {
    const gw = grpcJsClient(gatewayUrl, "nexus/gateway/v1/gateway_service.proto", "nexus.gateway.v1.GatewayService");
    try {
      assert.deepEqual(((await gw.ListProviders!({})).providers as { name: string }[]).map((p) => p.name), ["deno-check"]);
    } finally {
      gw.close();
    }
  });

  it("answers gRPC-Web", async () => {
    const client = createClient(GatewayService, createGrpcWebTransport({ baseUrl: gatewayUrl, httpVersion: "1.1" }));
    assert.equal((await client.listProviders({})).providers[0]?.authType, "api_key");
  });

  it("answers Connect JSON", async () => {
    const res = await fetch(`${gatewayUrl}/nexus.gateway.v1.GatewayService/ListProviders`, {
      method: "POST", headers: { "content-type": "application/json" }, body: "{}",
    });
    assert.equal(((await res.json()) as { providers: { name: string }[] }).providers[0]?.name, "deno-check");
  });

  it("answers REST, and refuses an unauthenticated data-plane call", async () => {
    const res = await fetch(`${gatewayUrl}/v1/providers`);
    assert.equal(((await res.json()) as { providers: { auth_type: string }[] }).providers[0]?.auth_type, "api_key");
    assert.equal((await fetch(`${gatewayUrl}/v1/token/${randomUUID()}`)).status, 401);
  });

  it("answers 30 HTTP/1.1 calls in a row through the Gateway to the Broker without a broken connection", async () => {
    // Deno's Node layer closes a handed-over socket after one response, so both say connection: close.
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${gatewayUrl}/v1/providers`);
      assert.equal(res.headers.get("connection"), "close");
      await res.text();
      statuses.push(res.status);
    }
    assert.deepEqual([...new Set(statuses)], [200]);
  });
});
