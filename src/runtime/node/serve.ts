import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Registry } from "prom-client";
import type { Logger } from "../../shared/logger.ts";
import type { HttpApp } from "../../shared/server/http-app.ts";
import { defaultMaxConnections, type ServerLimits } from "../../shared/server-limits.ts";
import { closeWithResponse, rawErrorResponse } from "./close-with-response.ts";
import { createConnectionRegistry, type TrackedConnection } from "./connection-registry.ts";
import { guardHttp1, type Http1Guard } from "./guard-http1.ts";
import { guardHttp2, http2ServerOptions } from "./guard-http2.ts";
import { createNodeRequestHandler, type NodeServerResponse } from "./node-request-handler.ts";
import { openFileLimit } from "./open-file-limit.ts";
import { createConnectionRefusals } from "./refuse-connections.ts";
import { createServerMetrics } from "./server-metrics.ts";
import { sniffProtocol } from "./sniff-protocol.ts";

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  app: HttpApp;
  port: number;
  /** @default "0.0.0.0" */
  host?: string;
  logger: Logger;
  /** Largest total request header size Node accepts, in bytes. @default 32768 */
  maxHeaderBytes?: number;
  /** Timeouts and caps on client connections; `maxConnections` undefined derives it from the open-file limit. */
  limits: ServerLimits;
  /** Where connection metrics go (`nexus_http_connections`, ...); none when unset. */
  registry?: Registry;
  /**
   * Keep HTTP/1.1 connections open between requests. Off under Deno, whose
   * Node layer closes a handed-over socket after its first response, so a
   * client reusing it would meet a broken pipe. @default true
   */
  http1KeepAlive?: boolean;
}

/** The limits a server enforces, with the connection cap worked out. */
export type EffectiveServerLimits = ServerLimits & { readonly maxConnections: number };

/** A listening server. */
export interface RunningServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** The limits in force, for the startup log. */
  readonly limits: EffectiveServerLimits;
  /**
   * Stops gracefully: no new connections, HTTP/2 sessions get GOAWAY, in-flight
   * calls may finish within `graceMs`, then `onAbort` runs (abort handler
   * signals) and every socket is destroyed.
   */
  close(graceMs?: number, onAbort?: () => void): Promise<void>;
}

/**
 * Serves an HttpApp on one plaintext port: HTTP/2 with prior knowledge (gRPC
 * and everything else over h2c) and HTTP/1.1 (browsers, gRPC-Web, Connect,
 * REST, curl). Node's plaintext http2 server cannot fall back to HTTP/1.1, so
 * a net server sniffs each connection's first bytes and hands it to node:http
 * or node:http2. As neither of those listens itself, Node arms none of its
 * connection timeouts: every limit in `limits` is enforced here, by the
 * connection registry (cap, handshake) and the HTTP/1.1 and HTTP/2 guards.
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const { logger } = options;
  const maxHeaderBytes = options.maxHeaderBytes ?? 32 * 1024;
  const fileLimit = openFileLimit();
  const limits: EffectiveServerLimits = Object.freeze({
    ...options.limits,
    maxConnections: options.limits.maxConnections ?? defaultMaxConnections(fileLimit),
  });
  if (fileLimit !== undefined && limits.maxConnections > (fileLimit * 3) / 4) {
    logger.warn("SERVER_MAX_CONNECTIONS leaves under a quarter of the open-file limit for everything else", { max_connections: limits.maxConnections, open_file_limit: fileLimit });
  }
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  // Read lazily, at scrape time, once the registry exists.
  const metrics = createServerMetrics(options.registry, () => connections);
  const connections = createConnectionRegistry(limits.maxConnections, metrics);
  const refusals = createConnectionRefusals(limits.maxConnections, logger, metrics);
  const handler = createNodeRequestHandler(options.app, logger, {
    maxConcurrentRequests: limits.maxConcurrentRequests, onRefused: metrics.requestRefused, http1KeepAlive: options.http1KeepAlive ?? true,
  });
  const http1Guards = new WeakMap<net.Socket, Http1Guard>();

  // Node's own timeouts are set to ours for the record; they stay unarmed (see above).
  const h1 = http.createServer({
    maxHeaderSize: maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  });
  h1.on("request", (req, res) => {
    http1Guards.get(req.socket)?.request(req, res);
    void handler.handle(req, res as NodeServerResponse);
  });
  h1.on("clientError", (error: NodeJS.ErrnoException, socket: net.Socket) => {
    // Oversized headers, malformed request lines: answer and close, keep serving.
    const answerable = socket.writable && error.code !== "ECONNRESET";
    closeWithResponse(socket, answerable ? rawErrorResponse(400, "invalid_argument", "malformed HTTP request or headers too large") : undefined);
  });
  const h2 = http2.createServer(http2ServerOptions(limits, maxHeaderBytes), (req, res) => {
    void handler.handle(req, res as unknown as NodeServerResponse);
  });
  // Node emits "session" synchronously inside emit("connection"): this names the connection it runs on.
  let handingOver: TrackedConnection | undefined;
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", (error) => logger.debug("http2 session error", { err: error }));
    if (handingOver !== undefined) guardHttp2(handingOver, session, limits, metrics);
  });

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const connection = connections.admit(socket);
    if (connection === undefined) return refusals.refuse(socket);
    connection.idle();
    connection.deadline(limits.handshakeTimeoutMs, () => {
      metrics.closed("handshake_timeout");
      socket.destroy();
    });
    sniffProtocol(socket, (protocol) => {
      connection.clearDeadline();
      if (protocol === "h2") {
        handingOver = connection;
        h2.emit("connection", socket);
        handingOver = undefined;
      } else {
        http1Guards.set(socket, guardHttp1(connection, limits, metrics));
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  let closing = false;

  return {
    port: address.port,
    limits,
    async close(graceMs = 10_000, onAbort) {
      if (closing) return;
      closing = true;
      server.close();
      for (const session of sessions) session.close();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([handler.drain(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      onAbort?.();
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    },
  };
}
