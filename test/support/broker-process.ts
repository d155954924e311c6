/**
 * A Broker as a real child process, started the way `make broker` starts it,
 * for tests that must send it real signals (SIGTERM, SIGKILL).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { brokerRestAt, type JsonReply } from "./broker-api.ts";
import { freePort } from "./free-port.ts";
import { until } from "./until.ts";

const root = new URL("../../", import.meta.url).pathname;

/** A running Broker process. */
export interface BrokerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Resolves when the process ends: its exit code or signal, and when. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Everything it wrote to stderr so far (its JSON log lines and messages). */
  stderr(): string;
  rest(method: string, path: string, body?: unknown): Promise<JsonReply>;
}

/** A Broker environment with fresh keys, for tests that run Broker processes over `databaseUrl`. */
export function brokerProcessEnv(databaseUrl: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl, ENCRYPTION_KEY: randomBytes(32).toString("base64"), STATE_KEY: randomBytes(32).toString("base64"),
    API_KEY: `admin-${randomBytes(18).toString("base64url")}`, BASE_URL: "http://127.0.0.1:1", ALLOWED_RETURN_DOMAINS: "app.example.com",
    ALLOW_HTTP_LOOPBACK_PROVIDERS: "true", REFRESH_MIN_INTERVAL_SECONDS: "1", LOG_LEVEL: "info", ...overrides,
  };
}

/** Spawns a Broker with `env` on a free port and waits until it is healthy. */
export async function spawnBroker(env: Record<string, string>): Promise<BrokerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "src/runtime/node/broker.ts"], {
    cwd: root,
    env: { ...process.env, ...env, BROKER_PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() })));
  const url = `http://127.0.0.1:${port}`;
  const healthy = until("the Broker process to be healthy", async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined), 30_000);
  const died = exited.then((e) => Promise.reject(new Error(`the Broker process exited (code ${e.code}, signal ${e.signal})`)));
  await Promise.race([healthy, died])
    .catch((error) => {
      child.kill("SIGKILL");
      throw new Error(`${error}\n${stderr}`);
    });
  return { url, child, exited, stderr: () => stderr, rest: (method, path, body) => brokerRestAt(url, env.API_KEY!, method, path, body) };
}
