import { setMaxListeners } from "node:events";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { collectDefaultMetrics, Registry } from "prom-client";
import { buildGateway } from "../../gateway/app.ts";
import { loadGatewayConfig } from "../../gateway/config.ts";
import type { Env } from "../../shared/config-reader.ts";
import { createLogger } from "../../shared/logger.ts";
import { loadStaticSite } from "./load-static-site.ts";
import { serve } from "./serve.ts";
import type { RunningService, StartOptions } from "./start-broker.ts";

/** Starts the Gateway from an environment. It reaches the Broker over HTTP/2 (gRPC). */
export async function startGateway(env: Env, options: StartOptions = {}): Promise<RunningService> {
  const config = loadGatewayConfig(env);
  const logger = createLogger({
    level: config.logLevel,
    write: options.logWrite ?? ((line) => process.stderr.write(line)),
    base: { service: "gateway" },
  });
  const site = config.webAppDir === undefined ? undefined : await loadStaticSite(config.webAppDir);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const shutdown = new AbortController();
  // Every in-flight call listens on this signal; hundreds at once are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  const gateway = await buildGateway(config, {
    brokerTransport: (interceptors) =>
      createGrpcTransport({
        baseUrl: config.brokerUrl.href,
        interceptors,
        // One HTTP/2 session, kept warm, carries every call to the Broker.
        idleConnectionTimeoutMs: 60_000,
        pingIntervalMs: 15_000,
        defaultTimeoutMs: 30_000,
      }),
    now: options.now ?? Date.now,
    registry,
    logger,
    shutdownSignal: shutdown.signal,
    ...(site === undefined ? {} : { site }),
  });
  const server = await serve({ app: gateway.app, port: options.port ?? config.port, logger });
  logger.info("gateway listening", { port: server.port, broker_url: config.brokerUrl.href, ...(site === undefined ? {} : { web_app_files: site.size }) });
  return {
    port: server.port,
    url: `http://127.0.0.1:${server.port}`,
    async close() {
      await server.close(10_000, () => shutdown.abort());
      await gateway.close();
    },
  };
}
