import { randomBytes } from "node:crypto";
import { startBroker, type RunningService } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import type { Resolver } from "../../src/runtime/node/guarded-lookup.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";

/** A Broker and a Gateway on real sockets over a database of their own. */
export interface TestStack {
  readonly db: TestDatabase;
  readonly broker: RunningService;
  readonly gateway: RunningService;
  readonly adminKey: string;
  readonly agentKey: string;
  readonly brokerEnv: Record<string, string>;
  readonly gatewayEnv: Record<string, string>;
  /** Every log line both processes wrote. */
  readonly logs: string[];
  close(): Promise<void>;
}

/** Options of {@linkcode startStack}. */
export interface StackOptions {
  brokerEnv?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
  fetch?: typeof fetch;
  /** Resolves provider host names for the Broker's guarded fetch (a fake: tests never ask real DNS). */
  resolve?: Resolver;
  /** The Broker's clock. */
  now?: () => number;
  /** Run the Broker on this port (default: any free port). Lets BASE_URL be its real URL, for browser tests. */
  brokerPort?: number;
  /** How often the Broker's housekeeping sweeps. */
  housekeepingIntervalMs?: number;
  /** Start only the Broker. */
  brokerOnly?: boolean;
}

/** A Broker environment for tests: fresh random vault and state keys, loopback providers allowed, debug logs. */
export function testBrokerEnv(databaseUrl: string, adminKey: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    STATE_KEY: randomBytes(32).toString("base64"),
    API_KEY: adminKey,
    BASE_URL: "http://127.0.0.1:1",
    ALLOWED_RETURN_DOMAINS: "app.example.com,localhost,127.0.0.1",
    ALLOW_HTTP_LOOPBACK_PROVIDERS: "true", REFRESH_MIN_INTERVAL_SECONDS: "1",
    LOG_LEVEL: "debug",
    ...overrides,
  };
}

/** Starts a full stack with fresh random keys; LOG_LEVEL=debug so log-leak checks see everything. */
export async function startStack(options: StackOptions = {}): Promise<TestStack> {
  const db = await createTestDatabase();
  const logs: string[] = [];
  const adminKey = `admin-${randomBytes(18).toString("base64url")}`;
  const agentKey = `agent-${randomBytes(18).toString("base64url")}`;
  const brokerEnv = testBrokerEnv(db.url, adminKey, options.brokerEnv);
  const broker = await startBroker(brokerEnv, {
    port: options.brokerPort ?? 0,
    logWrite: (l) => void logs.push(l),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.resolve === undefined ? {} : { resolve: options.resolve }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.housekeepingIntervalMs === undefined ? {} : { housekeepingIntervalMs: options.housekeepingIntervalMs }),
  });
  const gatewayEnv: Record<string, string> = {
    BROKER_URL: broker.url,
    BROKER_API_KEY: adminKey,
    AGENT_API_KEYS: agentKey,
    CORS_ALLOWED_ORIGINS: "https://app.example.com",
    LOG_LEVEL: "debug",
    ...options.gatewayEnv,
  };
  const gateway = options.brokerOnly
    ? { port: 0, url: "", close: async () => {} }
    : await startGateway(gatewayEnv, { port: 0, logWrite: (l) => void logs.push(l) });
  return {
    db, broker, gateway, adminKey, agentKey, brokerEnv, gatewayEnv, logs,
    async close() {
      await gateway.close();
      await broker.close();
      await db.close();
    },
  };
}
