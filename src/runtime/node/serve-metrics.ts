import * as http from "node:http";
import type * as net from "node:net";
import type { Registry } from "prom-client";
import type { Logger } from "../../shared/logger.ts";

/** Options of {@linkcode serveMetrics}. */
export interface ServeMetricsOptions {
  readonly registry: Registry;
  readonly port: number;
  /** Loopback by default: whoever reaches this listener reads the metrics without a key. @default "127.0.0.1" */
  readonly host?: string;
  readonly logger: Logger;
}

/** A listening metrics server. */
export interface MetricsServer {
  /** The bound port. */
  readonly port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/**
 * Serves GET /metrics, and nothing else, on a listener of its own (METRICS_PORT),
 * so that Prometheus can scrape the Broker while its public port, which must
 * serve /auth to every browser, does not serve metrics at all.
 */
export async function serveMetrics(options: ServeMetricsOptions): Promise<MetricsServer> {
  const sockets = new Set<net.Socket>();
  // Short limits: this listener only ever answers one small GET.
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192 }, (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if ((req.method === "GET" || req.method === "HEAD") && path === "/metrics") {
      options.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": options.registry.contentType });
          res.end(req.method === "HEAD" ? undefined : text);
        },
        (error: unknown) => {
          options.logger.error("metrics collection failed: the scrape was answered 500 and the next one tries again; report it with err if it repeats", { err: error });
          res.writeHead(500, { "content-type": "text/plain" }).end("metrics collection failed\n");
        },
      );
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
