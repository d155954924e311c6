import { createContextValues } from "@connectrpc/connect";
import type { Logger } from "../../shared/logger.ts";
import { kRemoteAddress } from "../../shared/request-context.ts";
import type { HttpApp } from "../../shared/server/http-app.ts";
import { healthRequestReserve } from "../../shared/server-limits.ts";
import { answerAndStop } from "./answer-and-stop.ts";
import { type NodeServerRequest, type NodeServerResponse, requestFromNode, writeResponse } from "./node-universal.ts";

export type { NodeServerRequest, NodeServerResponse } from "./node-universal.ts";

/** Hands Node requests to an HttpApp and counts the ones in flight. */
export interface NodeRequestHandler {
  handle(req: NodeServerRequest, res: NodeServerResponse): Promise<void>;
  /** From now on HTTP/1.1 responses say `connection: close`; resolves once no request is in flight. */
  drain(): Promise<void>;
}

/** Options of {@linkcode createNodeRequestHandler}. */
export interface NodeRequestHandlerOptions {
  /** Requests in progress past which new ones are answered 503 (health and metrics get a reserve above it). */
  maxConcurrentRequests: number;
  /** Called for each request turned away. */
  onRefused?: () => void;
  /** Keep HTTP/1.1 connections open between requests. @default true */
  http1KeepAlive?: boolean;
}

const healthPath = /^\/(healthz|metrics)(\?|$)|^\/grpc\.health\.v1\.Health\//;

/**
 * Creates the bridge between Node's servers and a runtime-neutral HttpApp.
 * It counts requests from their headers until their response has ended, and
 * turns new ones away past `maxConcurrentRequests` before the app sees them.
 */
export function createNodeRequestHandler(app: HttpApp, logger: Logger, options: NodeRequestHandlerOptions): NodeRequestHandler {
  let inFlight = 0;
  let closing = false;
  let drained: (() => void) | undefined;

  async function handle(req: NodeServerRequest, res: NodeServerResponse): Promise<void> {
    if (inFlight >= options.maxConcurrentRequests) {
      const limit = options.maxConcurrentRequests + (healthPath.test(req.url ?? "") ? healthRequestReserve : 0);
      if (inFlight >= limit) {
        options.onRefused?.();
        answerAndStop(res, 503, "unavailable", "the server has too many requests in progress; retry later");
        return;
      }
    }
    inFlight++;
    // Completion is tracked on "close", which fires once the response is done or abandoned.
    res.once("close", () => {
      inFlight--;
      if (closing && inFlight === 0) drained?.();
    });
    try {
      const contextValues = createContextValues().set(kRemoteAddress, req.socket?.remoteAddress ?? "");
      const request = requestFromNode(req, res, contextValues);
      const response = await app.handle(request);
      if ((closing || options.http1KeepAlive === false) && req.httpVersionMajor === 1) response.header?.set("connection", "close");
      void writeResponse(response, res).catch((error: unknown) => {
        // The client went away mid-response.
        logger.debug("response not completed", { err: error });
        res.destroy?.();
      });
    } catch (error) {
      logger.error("request failed before a response: a fault in Nexus; report it with this line", { err: error });
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end('{"code":"internal","message":"internal: an internal error occurred"}');
      } else {
        res.destroy?.();
      }
    }
  }

  return {
    handle,
    drain() {
      closing = true;
      return inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve));
    },
  };
}

