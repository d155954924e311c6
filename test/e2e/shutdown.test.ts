import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { freePort } from "../support/free-port.ts";

const root = new URL("../../", import.meta.url).pathname;

async function waitHealthy(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("broker did not become healthy");
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });
}

describe("graceful shutdown on SIGTERM", () => {
  let db: TestDatabase;
  let child: ChildProcess;
  let port: number;
  let stderr = "";
  const apiKey = `key-${randomBytes(16).toString("hex")}`;
  before(async () => {
    db = await createTestDatabase();
    port = await freePort();
    child = spawn(process.execPath, ["--import", "tsx", "src/runtime/node/broker.ts"], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        ENCRYPTION_KEY: randomBytes(32).toString("base64"),
        STATE_KEY: randomBytes(32).toString("base64"),
        API_KEY: apiKey,
        BASE_URL: "http://127.0.0.1",
        ALLOWED_RETURN_DOMAINS: "localhost",
        BROKER_PORT: String(port),
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr!.on("data", (d) => (stderr += d));
    await waitHealthy(port);
  });
  after(async () => {
    child.kill("SIGKILL");
    await db.close();
  });

  it("stops accepting, finishes the in-flight call, closes HTTP/2 sessions and exits 0", async () => {
    // An idle HTTP/2 session held by a gRPC client: it must not keep the process alive.
    const health = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    assert.equal((await health.check({})).status, 1);

    // A REST call whose body is still arriving when SIGTERM comes.
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ port, host: "127.0.0.1", method: "GET", path: "/providers", headers: { "x-api-key": apiKey, "content-type": "application/json", "transfer-encoding": "chunked" } }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.write("{");
      setTimeout(() => {
        child.kill("SIGTERM");
        setTimeout(() => req.end("}"), 400);
      }, 200);
    });
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.once("exit", (code) => resolve({ code, at: Date.now() })));
    const sent = Date.now() + 200;

    await new Promise((r) => setTimeout(r, 350));
    assert.equal(await refused(port), true, "a new connection after SIGTERM is refused");
    const res = await response;
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, /"providers":\[\]/);
    const { code, at } = await exited;
    assert.equal(code, 0, stderr);
    assert.ok(at - sent < 5000, `exited ${at - sent} ms after SIGTERM; an HTTP/2 session held it open`);
    assert.match(stderr, /SIGTERM received, draining in-flight calls/);
  });
});
