import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { createContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { Logger } from "../../shared/logger.ts";
import { kRemoteAddress } from "../../shared/request-context.ts";
import type { HttpApp } from "../../shared/server/http-app.ts";

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  app: HttpApp;
  port: number;
  /** @default "0.0.0.0" */
  host?: string;
  logger: Logger;
  /** Largest total request header size Node accepts, in bytes. @default 32768 */
  maxHeaderBytes?: number;
}

/** A listening server. */
export interface RunningServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /**
   * Stops gracefully: no new connections, HTTP/2 sessions get GOAWAY, in-flight
   * calls may finish within `graceMs`, then `onAbort` runs (abort handler
   * signals) and every socket is destroyed.
   */
  close(graceMs?: number, onAbort?: () => void): Promise<void>;
}

const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

type NodeServerRequest = Parameters<typeof universalRequestFromNodeRequest>[0];
type NodeServerResponse = Parameters<typeof universalResponseToNodeResponse>[1];

/**
 * Serves an HttpApp on one plaintext port: HTTP/2 with prior knowledge (gRPC
 * and everything else over h2c) and HTTP/1.1 (browsers, gRPC-Web, Connect,
 * REST, curl). Node's plaintext http2 server cannot fall back to HTTP/1.1, so
 * a net server reads the first bytes and hands the socket to the right one.
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const { app, logger } = options;
  const maxHeaderBytes = options.maxHeaderBytes ?? 32 * 1024;
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  let inFlight = 0;
  let closing = false;
  let drained: (() => void) | undefined;

  async function onRequest(req: NodeServerRequest, res: NodeServerResponse): Promise<void> {
    inFlight++;
    // connect-node's writer waits for an "end" event Node never emits on responses, so
    // completion is tracked on "close", which fires once the response is done or abandoned.
    res.once("close", () => {
      inFlight--;
      if (closing && inFlight === 0) drained?.();
    });
    try {
      const contextValues = createContextValues().set(kRemoteAddress, req.socket?.remoteAddress ?? "");
      const request = universalRequestFromNodeRequest(req, res, undefined, contextValues);
      const response = await app.handle(request);
      if (closing && req.httpVersionMajor === 1) response.header?.set("connection", "close");
      void universalResponseToNodeResponse(response, res).catch((error: unknown) => {
        // The client went away mid-response.
        logger.debug("response not completed", { err: error });
        res.destroy?.();
      });
    } catch (error) {
      logger.error("request failed before a response", { err: error });
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end('{"code":"internal","message":"internal: an internal error occurred"}');
      } else {
        res.destroy?.();
      }
    }
  }

  const h1 = http.createServer({ maxHeaderSize: maxHeaderBytes, requestTimeout: 120_000 }, (req, res) => {
    void onRequest(req, res as NodeServerResponse);
  });
  h1.on("clientError", (_error, socket) => {
    // Oversized headers, malformed request lines: answer and close, keep serving.
    if (socket.writable) {
      const body = '{"code":"invalid_argument","message":"invalid_argument: malformed HTTP request or headers too large"}';
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    } else {
      socket.destroy();
    }
  });
  const h2 = http2.createServer({ maxSessionMemory: 64, settings: { maxHeaderListSize: maxHeaderBytes } }, (req, res) => {
    void onRequest(req, res as unknown as NodeServerResponse);
  });
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", (error) => logger.debug("http2 session error", { err: error }));
  });

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let seen = Buffer.alloc(0);
    const sniff = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, h2Preface.length);
      const isH2 = seen.subarray(0, n).equals(h2Preface.subarray(0, n));
      if (isH2 && seen.length < h2Preface.length) return; // wait for the whole preface
      socket.off("data", sniff);
      // Put the bytes back so the chosen server parses the stream from its start.
      socket.pause();
      socket.unshift(seen);
      if (isH2) {
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", sniff);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => resolve());
  });
  const address = server.address() as net.AddressInfo;

  return {
    port: address.port,
    async close(graceMs = 10_000, onAbort) {
      if (closing) return;
      closing = true;
      server.close();
      for (const session of sessions) session.close();
      const allDone = inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => (drained = r));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([allDone, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      onAbort?.();
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    },
  };
}
