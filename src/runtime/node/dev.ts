// Entry point: `make run`. Development mode: an embedded PostgreSQL (unless
// DATABASE_URL is set), development keys created once in .nexus/dev.env, the
// Broker, a registered development agent, the web app built with its key,
// then the Gateway. Every environment variable overrides the defaults here.
import { spawn, type ChildProcess } from "node:child_process";
import { chmod } from "node:fs/promises";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { buildWebApp } from "./build-web-app.ts";
import { type DevelopmentAgent, ensureDevelopmentAgent } from "./dev-agent.ts";
import { loadDevelopmentKeys, saveDevelopmentAgent } from "./dev-keys.ts";
import { busyPortMessage, isAddressInUse } from "./busy-port.ts";
import { startEmbeddedPostgres, type RunningPostgres } from "./embedded-postgres.ts";
import { type Sandbox, startSandbox } from "./sandbox/start-sandbox.ts";
import { runService } from "./run-service.ts";
import { startBroker, type RunningService } from "./start-broker.ts";
import { startGateway } from "./start-gateway.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const stateDir = `${root}.nexus`;
const keysFile = `${stateDir}/dev.env`;
const runtime = process.argv.find((a) => a.startsWith("--runtime="))?.split("=")[1] ?? "node";

function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer().once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

async function freePortFrom(start: number): Promise<number> {
  for (let p = start; p < start + 100; p++) if (await portIsFree(p, "127.0.0.1")) return p;
  throw new Error(`no free port from ${start} to ${start + 99}: set NEXUS_DEV_PG_PORT to the first of a free range`);
}

/** Stops with one sentence per problem, and no stack trace: these are a newcomer's first minutes. */
function cannotStart(what: string, problems: readonly string[]): never {
  const list = problems.length === 1 ? ` ${problems[0]}\n` : `\n${problems.map((p) => `  - ${p}\n`).join("")}`;
  process.stderr.write(`Nexus cannot start ${what}:${list}`);
  process.exit(1);
}

const brokerPort = Number(process.env.BROKER_PORT ?? 8080);
const gatewayPort = Number(process.env.GATEWAY_PORT ?? 8090);
const sandboxPort = Number(process.env.NEXUS_SANDBOX_PORT ?? 8070);
const baseUrl = process.env.BASE_URL ?? `http://localhost:${brokerPort}`;

// Every port is checked before anything starts or is written, so that a taken one is the first and only thing said.
const wanted: [variable: string, port: number, host: string][] = [["BROKER_PORT", brokerPort, "0.0.0.0"], ["GATEWAY_PORT", gatewayPort, "0.0.0.0"]];
if (sandboxWanted()) {
  wanted.push(["NEXUS_SANDBOX_PORT", sandboxPort, "127.0.0.1"], ["NEXUS_SANDBOX_PORT (the sandbox API uses the port after it)", sandboxPort + 1, "127.0.0.1"]);
}
const busy: string[] = [];
for (const [variable, port, host] of wanted) if (!(await portIsFree(port, host))) busy.push(busyPortMessage(port, variable));
if (busy.length > 0) cannotStart("the development stack", busy);

const keys = await loadDevelopmentKeys(keysFile);
if (keys.removedUnscopedKey) {
  process.stderr.write("Removed the unscoped AGENT_API_KEYS key from .nexus/dev.env: make run now registers a development agent instead.\n");
}

const defaults: Record<string, string> = {
  ...keys.serviceEnv,
  BROKER_PORT: String(brokerPort),
  GATEWAY_PORT: String(gatewayPort),
  BASE_URL: baseUrl,
  ALLOWED_RETURN_DOMAINS: "localhost,127.0.0.1",
  ALLOW_HTTP_LOOPBACK_PROVIDERS: "true",
  BROKER_URL: `http://127.0.0.1:${brokerPort}`,
  BROKER_API_KEY: keys.serviceEnv.API_KEY ?? "",
  CORS_ALLOWED_ORIGINS: `http://localhost:${gatewayPort},http://127.0.0.1:${gatewayPort}`,
  GATEWAY_WEB_APP_DIR: `${stateDir}/web`,
};
// Whatever the environment sets wins over the development defaults.
const env: Record<string, string | undefined> = { ...defaults, ...process.env };

let pg: RunningPostgres | undefined;
if (env.DATABASE_URL === undefined || env.DATABASE_URL.trim() === "") {
  try {
    const port = await freePortFrom(Number(process.env.NEXUS_DEV_PG_PORT ?? 54329));
    process.stderr.write(`Starting PostgreSQL on port ${port} (data kept in .nexus/pgdata)...\n`);
    pg = await startEmbeddedPostgres({
      dataDir: `${stateDir}/pgdata`, port, persistent: true,
      onNotice: (sentence) => process.stderr.write(`  ${sentence}\n`),
      ...(process.env.NEXUS_DEV_PG_DIR ? { stageDir: process.env.NEXUS_DEV_PG_DIR } : {}),
    }).catch((error: unknown) => {
      throw isAddressInUse(error) ? new Error(busyPortMessage(port, "NEXUS_DEV_PG_PORT")) : error;
    });
    await pg.ensureDatabase("nexus");
    env.DATABASE_URL = pg.url("nexus");
  } catch (error) {
    await pg?.stop();
    cannotStart("PostgreSQL", [error instanceof Error ? error.message : String(error)]);
  }
}

let agent: DevelopmentAgent | undefined;

/**
 * Once the Broker is up: the development agent (registered the first time,
 * its key kept in dev.env), then the web app built with that key prefilled
 * (config.json). Both before the Gateway starts, because the Gateway loads
 * the web app's folder once. The key goes only into the development folder.
 */
async function prepareAgent(): Promise<void> {
  agent = await ensureDevelopmentAgent({ brokerUrl: `http://127.0.0.1:${env.BROKER_PORT}`, adminKey: env.BROKER_API_KEY ?? "", stored: keys.agent });
  if (agent.outcome !== "reused") await saveDevelopmentAgent(keysFile, agent);
  if (env.GATEWAY_WEB_APP_DIR === `${stateDir}/web`) await buildWebApp(`${stateDir}/web`, { config: { agentKey: agent.key } });
}

/**
 * The sandbox providers run only in development mode: not when the environment
 * brings production configuration (its own vault key, or a public BASE_URL).
 */
function sandboxWanted(): boolean {
  if ((process.env.NEXUS_SANDBOX ?? "").toLowerCase() === "off") return false;
  if (process.env.ENCRYPTION_KEY !== undefined || process.env.ENCRYPTION_KEYS !== undefined) return false;
  const host = new URL(baseUrl).hostname;
  return host === "localhost" || host === "127.0.0.1" || host === "[::1]";
}
let sandbox: Sandbox | undefined;
async function startDevSandbox(): Promise<void> {
  if (!sandboxWanted()) return;
  sandbox = await startSandbox({
    port: sandboxPort,
    // Its grants and tokens survive a restart, as the Broker's connections do.
    stateFile: `${stateDir}/sandbox.json`,
    brokerBaseUrl: env.BASE_URL ?? "",
    broker: { url: `http://127.0.0.1:${env.BROKER_PORT}`, apiKey: env.API_KEY ?? "" },
  });
}

/** Whose the printed agent key is, and what make run did to have it. */
function agentNote(): string {
  const what = { created: ", registered now", rotated: ", given a new key now", reused: "" }[agent?.outcome ?? "reused"];
  return `of the registered agent ${agent?.name} (id ${agent?.id}${what}); more agents: docs/agents.md`;
}

function banner(): void {
  process.stderr.write(`
  Nexus is running${runtime === "deno" ? " under Deno" : ""}.

    Web app (start here)        http://localhost:${env.GATEWAY_PORT}/
    Gateway (agents, browsers)  http://localhost:${env.GATEWAY_PORT}
    Broker  (private, admin)    http://localhost:${env.BROKER_PORT}
    OAuth redirect URI          ${env.BASE_URL}/auth/callback

  WARNING: development keys from .nexus/dev.env. FOR DEVELOPMENT ONLY.
    Admin key (X-API-Key for the Broker):  ${env.API_KEY}
    Agent key (Bearer for the Gateway):    ${agent?.key}
      ${agentNote()}

${sandbox === undefined ? "" : `  Sandbox providers, to try a connection without registering anything:
    sandbox      OpenID provider at ${sandbox.issuer} (sign in as a test user)
    sandbox-api  API-key service at ${sandbox.apiUrl} (its key: ${sandbox.apiKey})

`}  Try:  curl -s http://localhost:${env.GATEWAY_PORT}/v1/providers
  Stop: Ctrl-C
\n`);
}

function spawnDeno(entry: string): ChildProcess {
  const child = spawn("npx", ["--no-install", "deno", "run", "-A", `src/runtime/deno/${entry}.ts`], {
    cwd: root, env: env as NodeJS.ProcessEnv, stdio: ["ignore", "inherit", "inherit"],
  });
  child.on("exit", (code) => {
    process.stderr.write(`deno ${entry} exited with code ${code}\n`);
    process.exit(code ?? 1);
  });
  return child;
}

async function waitForHealth(port: string | undefined): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing answered on port ${port} within 30 s`);
}

await runService("development stack", async (): Promise<RunningService> => {
  if (runtime === "deno") {
    const children = [spawnDeno("broker")];
    await waitForHealth(env.BROKER_PORT);
    await prepareAgent();
    children.push(spawnDeno("gateway"));
    await waitForHealth(env.GATEWAY_PORT);
    await startDevSandbox();
    banner();
    return {
      port: Number(env.GATEWAY_PORT),
      url: `http://localhost:${env.GATEWAY_PORT}`,
      async close() {
        for (const c of children) {
          c.removeAllListeners("exit");
          c.kill("SIGTERM");
        }
        await Promise.all(children.map((c) => new Promise((r) => c.once("exit", r))));
        await sandbox?.close();
        await pg?.stop();
      },
    };
  }
  const broker = await startBroker(env);
  await prepareAgent().catch(async (error: unknown) => {
    await broker.close();
    throw error;
  });
  const gateway = await startGateway(env);
  await startDevSandbox();
  banner();
  return {
    port: gateway.port,
    url: gateway.url,
    async close() {
      await gateway.close();
      await broker.close();
      await sandbox?.close();
      await pg?.stop();
    },
  };
});

await chmod(keysFile, 0o600);
