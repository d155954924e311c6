import { setMaxListeners } from "node:events";
import { collectDefaultMetrics, Registry } from "prom-client";
import { buildBroker } from "../../broker/app.ts";
import { loadBrokerConfig } from "../../broker/config.ts";
import { applyMigrations } from "../../broker/db/migrate.ts";
import { createSql } from "../../broker/db/sql.ts";
import { createKeyRing } from "../../broker/vault/key-ring.ts";
import { createVault } from "../../broker/vault/vault.ts";
import type { Env } from "../../shared/config-reader.ts";
import { createLogger } from "../../shared/logger.ts";
import { serverLimitsLogFields } from "../../shared/server-limits.ts";
import { explainBusyPort } from "./busy-port.ts";
import { tracedFetch } from "../../shared/traced-fetch.ts";
import { createGuardedFetch } from "./guarded-fetch.ts";
import type { Resolver } from "./guarded-lookup.ts";
import { loadMigrations } from "./load-migrations.ts";
import { startObservability } from "./observability.ts";
import { type RunningServer, serve } from "./serve.ts";
import { type MetricsServer, serveMetrics } from "./serve-metrics.ts";

/** A started process. */
export interface RunningService {
  readonly port: number;
  readonly url: string;
  /** Graceful stop: drain in-flight calls, then release everything. */
  close(): Promise<void>;
}

/** Overrides for tests and embedding. */
export interface StartOptions {
  /** Overrides BROKER_PORT / GATEWAY_PORT (0 picks a free port). */
  port?: number;
  /** Receives log lines. @default process.stderr */
  logWrite?: (line: string) => void;
  /** Replaces the guarded fetch (and with it the DNS check; the URL policy still applies). */
  fetch?: typeof fetch;
  /** Broker only: resolves provider host names for the guarded fetch; tests inject a fake. @default the system resolver */
  resolve?: Resolver;
  now?: () => number;
  /** Broker only: how often housekeeping sweeps (tests shorten it). */
  housekeepingIntervalMs?: number;
  /** Keep HTTP/1.1 connections open between requests (off under Deno; see serve.ts). @default true */
  http1KeepAlive?: boolean;
}

/** Starts the Broker from an environment: migrate, check keys, serve. */
export async function startBroker(env: Env, options: StartOptions = {}): Promise<RunningService> {
  const config = loadBrokerConfig(env);
  const observability = await startObservability(env, "nexus-broker");
  const logger = createLogger({
    level: config.logLevel,
    write: options.logWrite ?? ((line) => process.stderr.write(line)),
    base: { service: "broker" },
    context: observability.logContext,
  });
  const sql = createSql(config.databaseUrl, { applicationName: "nexus-broker" });
  try {
    const migrations = await loadMigrations();
    await applyMigrations(sql, migrations);
    const vault = createVault(createKeyRing(config.encryptionKeys, config.activeKeyId));
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    // Checks every address a provider's name resolves to, at connect time, with the same outbound policy.
    const guarded = createGuardedFetch({
      allowLoopback: config.allowHttpLoopbackProviders,
      ...(options.resolve === undefined ? {} : { resolve: options.resolve }),
    });
    const shutdown = new AbortController();
    // Every in-flight call listens on this signal; hundreds at once are normal, not a leak.
    setMaxListeners(0, shutdown.signal);
    const broker = await buildBroker(config, {
      sql,
      vault,
      fetch: tracedFetch(options.fetch ?? guarded.fetch, observability.tracing),
      now: options.now ?? Date.now,
      randomUUID: () => crypto.randomUUID(),
      migrationsKnown: migrations.map((m) => m.version),
      ...(options.housekeepingIntervalMs === undefined ? {} : { housekeepingIntervalMs: options.housekeepingIntervalMs }),
      registry,
      logger,
      shutdownSignal: shutdown.signal,
      requestScope: observability.scope,
      tracing: observability.tracing,
    });
    const port = options.port ?? config.port;
    let server: RunningServer | undefined;
    let metrics: MetricsServer | undefined;
    try {
      server = await explainBusyPort(port, "BROKER_PORT", () => serve({ app: broker.app, port, host: config.host, logger, limits: config.serverLimits, registry,
        ...(options.http1KeepAlive === undefined ? {} : { http1KeepAlive: options.http1KeepAlive }) }));
      logger.info("broker listening", { host: config.host, port: server.port, base_url: config.baseUrl.href, ...serverLimitsLogFields(server.limits) });
      if (config.metricsPort !== 0) metrics = await explainBusyPort(config.metricsPort, "METRICS_PORT", () => serveMetrics({ registry, port: config.metricsPort, logger }));
    } catch (error) {
      // Stop the refresh loop and the cache listener before the pool closes under them: they would log about a database that is fine.
      await server?.close(0);
      await broker.close({ deadlineMs: 0 });
      guarded.close();
      throw error;
    }
    if (metrics !== undefined) logger.info("broker metrics listening", { host: "127.0.0.1", port: metrics.port });
    const running = server;
    return {
      port: running.port,
      url: `http://127.0.0.1:${running.port}`,
      async close() {
        // Both drains run at once: calls in flight on the server, and refreshes already sent to providers.
        const drainMs = config.shutdownDrainSeconds * 1000;
        const served = running.close(Math.min(10_000, drainMs), () => shutdown.abort());
        await broker.close({ deadlineMs: drainMs, whenServed: served });
        await served;
        guarded.close();
        await metrics?.close();
        await sql.end({ timeout: 5 });
        await observability.tracing.close();
      },
    };
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw error;
  }
}
