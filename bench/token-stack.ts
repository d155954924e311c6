/**
 * The system under test for the token benchmark: a private PostgreSQL, a
 * Broker and a Gateway as separate processes, one static-credential provider
 * and N active connections created through the public API, plus the bare
 * node:http baseline server serving the bytes of one real answer.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSql } from "../src/broker/db/sql.ts";
import { freePort } from "../test/support/free-port.ts";
import { type Child, spawnNode, startBenchPostgres } from "./lib.ts";
import { parentOf, track } from "./load/procs.ts";

/** A running stack and what the benchmark needs to drive and measure it. */
export interface TokenStack {
  readonly gatewayOrigin: string;
  readonly brokerOrigin: string;
  readonly bareOrigin: string;
  /** The Broker's API key (admin calls). */
  readonly adminKey: string;
  /** A registered agent's API key: the load's caller, and the owner of every connection. */
  readonly agentKey: string;
  /** Active connection ids, in creation order. */
  readonly ids: string[];
  readonly databaseUrl: string;
  /** Base64 of the Broker's key "primary". */
  readonly encryptionKey: string;
  readonly gateway: Child;
  readonly broker: Child;
  readonly bare: Child;
  /** A bare Connect server answering GetToken with the same message: the framework's own floor. */
  readonly connectFloorOrigin: string;
  readonly connectFloor: Child;
  /** The PostgreSQL server's postmaster pid. */
  readonly postmaster: number;
  /** The Broker's Prometheus metrics text. */
  brokerMetrics(): Promise<string>;
  /** The Gateway's Prometheus metrics text. */
  gatewayMetrics(): Promise<string>;
  stop(): Promise<void>;
}

/** Options of {@linkcode startTokenStack}. */
export interface TokenStackOptions {
  connections: number;
  /** Run the services from `make build`'s bundles (plain Node) instead of TypeScript through tsx. */
  built?: boolean;
  /** The Broker's TOKEN_CACHE_SECONDS (0 turns its token cache off); the Broker's default when absent. */
  cacheSeconds?: number;
  /** The Gateway's GATEWAY_TOKEN_CACHE_SECONDS (0 turns its cache off); the Gateway's default when absent. */
  gatewayCacheSeconds?: number;
  /** Extra node flags for the Broker and Gateway (such as --cpu-prof), keyed by service. */
  nodeArgs?: { broker?: string; gateway?: string };
  log?: (line: string) => void;
}

// Everything on disk lives under one directory, removed on any exit.
const scratch = mkdtempSync(join(tmpdir(), "nexus-token-bench-"));
// Root runs PostgreSQL as the postgres user, which must traverse to its data directory.
chmodSync(scratch, 0o755);
process.once("exit", () => rmSync(scratch, { recursive: true, force: true }));

/** Starts everything; on failure stops what it started and rethrows. */
export async function startTokenStack(options: TokenStackOptions): Promise<TokenStack> {
  const log = options.log ?? (() => {});
  const entry = (service: "broker" | "gateway") => (options.built === true ? `.nexus/build/node/${service}.mjs` : `src/runtime/node/${service}.ts`);
  const pg = await startBenchPostgres(scratch);
  const children: Child[] = [];
  const stop = async () => {
    for (const c of children.reverse()) await c.stop().catch(() => {});
    await pg.stop().catch(() => {});
  };
  try {
    const databaseUrl = await pg.createDatabase("token_bench");
    const encryptionKey = randomBytes(32).toString("base64");
    const adminKey = `bench-admin-${randomBytes(12).toString("hex")}`;
    const brokerPort = await freePort();
    const gatewayPort = await freePort();
    const barePort = await freePort();
    const start = async (script: string, args: string[], env: Record<string, string>, ready: Parameters<typeof spawnNode>[3], nodeArgs = "") => {
      const child = await spawnNode(script, args, env, ready, nodeArgs.split(" ").filter((a) => a !== ""));
      track(child.process);
      children.push(child);
      return child;
    };
    // Quiet logs: a log line per request would be part of what we measure.
    const broker = await start(entry("broker"), [], {
      DATABASE_URL: databaseUrl, ENCRYPTION_KEYS: `primary:${encryptionKey}`, STATE_KEY: randomBytes(32).toString("base64"),
      API_KEY: adminKey, BASE_URL: `http://127.0.0.1:${brokerPort}`, ALLOWED_RETURN_DOMAINS: "localhost",
      BROKER_PORT: String(brokerPort), LOG_LEVEL: "warn",
      ...(options.cacheSeconds === undefined ? {} : { TOKEN_CACHE_SECONDS: String(options.cacheSeconds) }),
    }, { healthz: brokerPort }, options.nodeArgs?.broker);
    const gateway = await start(entry("gateway"), [], {
      BROKER_URL: `http://127.0.0.1:${brokerPort}`, BROKER_API_KEY: adminKey,
      GATEWAY_PORT: String(gatewayPort), LOG_LEVEL: "warn",
      ...(options.gatewayCacheSeconds === undefined ? {} : { GATEWAY_TOKEN_CACHE_SECONDS: String(options.gatewayCacheSeconds) }),
    }, { healthz: gatewayPort }, options.nodeArgs?.gateway);
    const gatewayOrigin = `http://127.0.0.1:${gatewayPort}`;
    const brokerOrigin = `http://127.0.0.1:${brokerPort}`;
    await registerProvider(brokerOrigin, adminKey);
    // A registered agent, as agents are meant to be: the Broker checks its access to each connection.
    const agentKey = (await registerAgent(brokerOrigin, adminKey, "bench-agent")).apiKey;
    const t0 = performance.now();
    const ids = await createConnections(gatewayOrigin, agentKey, options.connections);
    log(`${ids.length} connections created through the Gateway API in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // The baseline serves the very bytes the Gateway answers.
    const sample = await fetch(`${gatewayOrigin}/v1/token/${ids[0]}`, { headers: { authorization: `Bearer ${agentKey}` } });
    const body = await sample.text();
    if (!sample.ok) throw new Error(`GET /v1/token answered ${sample.status}: ${body}`);
    const bare = await start("bench/load/bare-server.ts", [String(barePort)], {
      BENCH_BODY: body, BENCH_CONTENT_TYPE: sample.headers.get("content-type") ?? "application/json",
    }, (l) => l.includes('"port"'));
    const connectSample = await fetch(`${gatewayOrigin}/nexus.gateway.v1.GatewayService/GetToken`, {
      method: "POST", headers: { authorization: `Bearer ${agentKey}`, "content-type": "application/json" }, body: JSON.stringify({ connectionId: ids[0] }),
    });
    const connectBody = await connectSample.text();
    if (!connectSample.ok) throw new Error(`Connect GetToken answered ${connectSample.status}: ${connectBody}`);
    const floorPort = await freePort();
    const connectFloor = await start("bench/load/connect-floor-server.ts", [String(floorPort)], { BENCH_BODY: connectBody }, (l) => l.includes('"port"'));
    const sql = createSql(databaseUrl, { max: 1 });
    const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    // Read while the backend lives: its parent is the postmaster.
    const postmaster = parentOf(row!.pid);
    await sql.end({ timeout: 5 });
    if (postmaster === 0) throw new Error("cannot find the PostgreSQL postmaster in /proc");
    return {
      gatewayOrigin, brokerOrigin, bareOrigin: `http://127.0.0.1:${barePort}`, adminKey, agentKey, ids, databaseUrl, encryptionKey,
      gateway, broker, bare, postmaster, connectFloorOrigin: `http://127.0.0.1:${floorPort}`, connectFloor,
      brokerMetrics: async () => (await fetch(`http://127.0.0.1:${brokerPort}/metrics`)).text(),
      gatewayMetrics: async () => (await fetch(`${gatewayOrigin}/metrics`)).text(),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function registerProvider(brokerOrigin: string, adminKey: string): Promise<void> {
  const res = await fetch(`${brokerOrigin}/providers`, {
    method: "POST",
    headers: { "x-api-key": adminKey, "content-type": "application/json" },
    body: JSON.stringify({ profile: { name: "bench-api", auth_type: "api_key", description: "token retrieval benchmark" } }),
  });
  if (res.status !== 201) throw new Error(`provider registration answered ${res.status}: ${await res.text()}`);
}

/** Registers an agent; returns its id and API key. */
export async function registerAgent(brokerOrigin: string, adminKey: string, name: string): Promise<{ id: string; apiKey: string }> {
  const res = await fetch(`${brokerOrigin}/agents`, {
    method: "POST",
    headers: { "x-api-key": adminKey, "content-type": "application/json" },
    body: JSON.stringify({ agent: { name, description: "token retrieval benchmark" } }),
  });
  const body = (await res.json()) as { api_key?: string; agent?: { id?: string } };
  if (res.status !== 201 || body.api_key === undefined || body.agent?.id === undefined) throw new Error(`agent registration answered ${res.status}: ${JSON.stringify(body)}`);
  return { id: body.agent.id, apiKey: body.api_key };
}

/** Creates `n` active connections as an agent and a user would: request, then capture, 16 at a time. */
export async function createConnections(gateway: string, agentKey: string, n: number): Promise<string[]> {
  const ids = new Array<string>(n);
  let next = 0;
  const post = async (path: string, body: unknown, auth: boolean) => {
    const res = await fetch(`${gateway}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(auth ? { authorization: `Bearer ${agentKey}` } : {}) },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, string>;
    if (!res.ok) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const started = await post("/v1/request-connection", { user_id: `bench-user-${i}`, provider_name: "bench-api", return_url: "http://localhost/done" }, true);
      const captured = await post("/v1/capture-credential", { state: started.state, credentials: { api_key: `sk_bench_${i}_${randomBytes(8).toString("hex")}` } }, false);
      if (captured.status !== "active") throw new Error(`capture left connection ${started.connection_id} ${captured.status}`);
      ids[i] = started.connection_id!;
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, n) }, worker));
  return ids;
}
