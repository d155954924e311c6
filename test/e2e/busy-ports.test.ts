/**
 * A taken port on the first run: the error names the variable that moves it
 * and, on Linux, the program holding it; nothing misleading comes before it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { busyPortMessage, portHolder } from "../../src/runtime/node/busy-port.ts";
import { startBroker } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { startSandbox } from "../../src/runtime/node/sandbox/start-sandbox.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testBrokerEnv } from "../support/stack.ts";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const linux = process.platform === "linux";
// The name the kernel gives this test process: what the messages must show for a port it holds.
const self = linux ? readFileSync("/proc/self/comm", "utf8").trim() : "";

/** Holds a port, as another program would. */
async function hold(host = "0.0.0.0", port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe("busy ports", () => {
  const held: Server[] = [];
  const take = async (host?: string, port?: number) => {
    const h = await hold(host, port);
    held.push(h.server);
    return h.port;
  };
  /** A taken port whose predecessor is free (for the sandbox, whose API takes the port after its own). */
  const takeAfterFree = async (): Promise<number> => {
    for (;;) {
      const port = await take("127.0.0.1");
      const before = await hold("127.0.0.1", port - 1).catch(() => undefined);
      if (before === undefined) continue;
      await new Promise((r) => before.server.close(r));
      return port;
    }
  };
  let db: TestDatabase;
  // One set of keys: the first Broker seals its key check into this database.
  let brokerEnv: (overrides: Record<string, string>) => Record<string, string>;
  before(async () => {
    db = await createTestDatabase();
    const env = testBrokerEnv(db.url, "admin-key-for-busy-ports");
    brokerEnv = (overrides) => ({ ...env, ...overrides });
  });
  after(async () => {
    for (const s of held) s.close();
    await db.close();
  });

  it("finds the process listening on a port from /proc, over IPv4 and IPv6", { skip: !linux && "Linux only" }, async () => {
    assert.deepEqual(portHolder(await take("0.0.0.0")), { pid: process.pid, name: self });
    assert.deepEqual(portHolder(await take("::")), { pid: process.pid, name: self });
    const { server, port } = await hold("127.0.0.1");
    await new Promise((r) => server.close(r));
    assert.equal(portHolder(port), undefined, "nobody listens any more");
  });

  it("reads only listening sockets, and names the program without its arguments", async () => {
    const proc = await mkdtemp(join(tmpdir(), "nexus-proc-"));
    try {
      await mkdir(join(proc, "net"));
      const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
      // Port 8090 is 0x1F9A: one connection in TIME_WAIT (06) from another process, one listener (0A).
      await writeFile(join(proc, "net/tcp"), `${header}   0: 0100007F:1F9A 0100007F:D431 06 00000000:00000000 00:00000000 00000000     0        0 111 1\n`
        + `   1: 00000000:1F9A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1\n`);
      await writeFile(join(proc, "net/tcp6"), header);
      for (const [pid, inode, comm] of [["41", "111", "curl"], ["42", "222", "python3"]] as const) {
        await mkdir(join(proc, pid, "fd"), { recursive: true });
        await symlink(`socket:[${inode}]`, join(proc, pid, "fd", "3"));
        await writeFile(join(proc, pid, "comm"), `${comm}\n`);
        await writeFile(join(proc, pid, "cmdline"), `${comm}\0--password\0hunter2\0`);
      }
      assert.deepEqual(portHolder(8090, proc), { pid: 42, name: "python3" });
      assert.equal(busyPortMessage(8090, "GATEWAY_PORT", proc), "port 8090 is already in use by pid 42 (python3): stop it, or set GATEWAY_PORT to a free port");
      assert.equal(busyPortMessage(8091, "GATEWAY_PORT", proc), "port 8091 is already in use by another program: stop it, or set GATEWAY_PORT to a free port");
    } finally {
      await rm(proc, { recursive: true, force: true });
    }
  });

  it("the Broker names BROKER_PORT, and logs no database warning before it", async () => {
    const port = await take();
    const logs: string[] = [];
    await assert.rejects(startBroker(brokerEnv({ BROKER_PORT: String(port), LOG_LEVEL: "info" }), { logWrite: (l) => void logs.push(l) }), {
      message: busyPortMessage(port, "BROKER_PORT"),
    });
    assert.deepEqual(logs.filter((l) => /"level":"(warn|error)"/.test(l)), []);
  });

  it("the Broker names METRICS_PORT", async () => {
    const port = await take("127.0.0.1");
    await assert.rejects(startBroker(brokerEnv({ METRICS_PORT: String(port) }), { port: 0, logWrite: () => {} }), {
      message: busyPortMessage(port, "METRICS_PORT"),
    });
  });

  it("the Gateway names GATEWAY_PORT", async () => {
    const port = await take();
    const env = { BROKER_URL: "http://127.0.0.1:1", BROKER_API_KEY: "k", AGENT_API_KEYS: "agent-key-for-busy-ports", GATEWAY_PORT: String(port) };
    await assert.rejects(startGateway(env, { logWrite: () => {} }), { message: busyPortMessage(port, "GATEWAY_PORT") });
  });

  it("the sandbox names NEXUS_SANDBOX_PORT for its own port and for its API's, the next one", async () => {
    const options = { brokerBaseUrl: "http://localhost:1", broker: { url: "http://127.0.0.1:1", apiKey: "k" } };
    const port = await take("127.0.0.1");
    await assert.rejects(startSandbox({ ...options, port }), { message: busyPortMessage(port, "NEXUS_SANDBOX_PORT") });
    const api = await takeAfterFree();
    await assert.rejects(startSandbox({ ...options, port: api - 1 }), { message: busyPortMessage(api, "NEXUS_SANDBOX_PORT (the sandbox API uses the port after it)") });
  });

  it("make run checks every port first: one line per taken port, and nothing before", async () => {
    const [gateway, sandboxApi] = [await take(), await takeAfterFree()];
    const free = await hold();
    await new Promise((r) => free.server.close(r));
    const env: NodeJS.ProcessEnv = { ...process.env, BROKER_PORT: String(free.port), GATEWAY_PORT: String(gateway), NEXUS_SANDBOX_PORT: String(sandboxApi - 1) };
    delete env.DATABASE_URL;
    const failed = await run(process.execPath, ["--import", "tsx", "src/runtime/node/dev.ts"], { cwd: root, env }).then(() => undefined, (e: { code: number; stdout: string; stderr: string }) => e);
    assert.ok(failed, "make run refused to start");
    assert.equal(failed.code, 1);
    assert.equal(failed.stdout, "");
    assert.equal(failed.stderr, "Nexus cannot start the development stack:\n"
      + `  - ${busyPortMessage(gateway, "GATEWAY_PORT")}\n`
      + `  - ${busyPortMessage(sandboxApi, "NEXUS_SANDBOX_PORT (the sandbox API uses the port after it)")}\n`);
  });
});
