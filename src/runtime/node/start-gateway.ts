import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { createConnectTransport } from "@connectrpc/connect-node";
import { collectDefaultMetrics, Registry } from "prom-client";
import { buildGateway } from "../../gateway/app.ts";
import { createBrokerTransport } from "./broker-transport.ts";
import { explainBusyPort } from "./busy-port.ts";
import { loadGatewayConfig } from "../../gateway/config.ts";
import type { Env } from "../../shared/config-reader.ts";
import { createLogger } from "../../shared/logger.ts";
import { serverLimitsLogFields } from "../../shared/server-limits.ts";
import { propagateRequest } from "../../shared/propagate-request.ts";
import { loadStaticSite } from "./load-static-site.ts";
import { startObservability } from "./observability.ts";
import { serve } from "./serve.ts";
import type { RunningService, StartOptions } from "./start-broker.ts";

/**
 * Starts the Gateway from an environment. It reaches the Broker with the
 * Connect protocol (binary) over a pool of kept-alive HTTP/1.1 connections:
 * measured on the token path, Node's HTTP/1.1 costs the Broker about a third
 * less CPU per call than gRPC over one HTTP/2 session, and the lean transport
 * a fraction of connect-node's client (BENCHMARKS.md).
 */
export async function startGateway(env: Env, options: StartOptions = {}): Promise<RunningService> {
  const config = loadGatewayConfig(env);
  const observability = await startObservability(env, "nexus-gateway");
  const logger = createLogger({
    level: config.logLevel,
    write: options.logWrite ?? ((line) => process.stderr.write(line)),
    base: { service: "gateway" },
    context: observability.logContext,
  });
  const site = config.webAppDir === undefined ? undefined : await loadStaticSite(config.webAppDir);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const shutdown = new AbortController();
  // Every in-flight call listens on this signal; hundreds at once are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  // Idle sockets are closed after 4 s, before the Broker's keep-alive timeout
  // (SERVER_KEEP_ALIVE_TIMEOUT_MS, 5 s by default) closes them, so a call never goes out on
  // a socket the Broker is closing. LIFO
  // reuse lets the sockets a burst opened age out once it has passed.
  const agentOptions = { keepAlive: true, maxSockets: 64, maxFreeSockets: 64, timeout: 4_000, scheduling: "lifo" as const };
  const agent = config.brokerUrl.protocol === "https:" ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
  const gateway = await buildGateway(config, {
    // Every call to the Broker carries the agent request's x-request-id and trace context.
    brokerTransport: (interceptors) => createBrokerTransport({
      baseUrl: config.brokerUrl, agent, interceptors: [...interceptors, propagateRequest(observability.scope, observability.tracing)], defaultTimeoutMs: 30_000,
      // The change stream: one long-lived call, so connect-node's own client is fine for it.
      streams: createConnectTransport({ baseUrl: config.brokerUrl.href, httpVersion: "1.1", useBinaryFormat: true, interceptors }),
    }),
    digest: (credential) => createHash("sha256").update(credential).digest("base64url"),
    now: options.now ?? Date.now,
    registry,
    logger,
    shutdownSignal: shutdown.signal,
    requestScope: observability.scope,
    tracing: observability.tracing,
    ...(site === undefined ? {} : { site }),
  });
  const port = options.port ?? config.port;
  const server = await explainBusyPort(port, "GATEWAY_PORT", () => serve({ app: gateway.app, port, host: config.host, logger, limits: config.serverLimits, registry,
    ...(options.http1KeepAlive === undefined ? {} : { http1KeepAlive: options.http1KeepAlive }) })).catch(async (error: unknown) => {
    await gateway.close();
    agent.destroy();
    throw error;
  });
  logger.info("gateway listening", {
    host: config.host,
    port: server.port,
    broker_url: config.brokerUrl.href,
    ...(site === undefined ? {} : { web_app_files: site.size }),
    ...serverLimitsLogFields(server.limits),
  });
  return {
    port: server.port,
    url: `http://127.0.0.1:${server.port}`,
    async close() {
      await server.close(10_000, () => shutdown.abort());
      // After the drain: the reads answered from the cache until the last request reach the Broker's audit log.
      await gateway.close({ deadlineMs: 5000 });
      agent.destroy();
      await observability.tracing.close();
    },
  };
}
