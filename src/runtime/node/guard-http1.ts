import type * as http from "node:http";
import type { ServerLimits } from "../../shared/server-limits.ts";
import { closeWithResponse, rawErrorResponse } from "./close-with-response.ts";
import type { TrackedConnection } from "./connection-registry.ts";
import type { ServerMetrics } from "./server-metrics.ts";

/** The timeouts of one HTTP/1.1 connection. */
export interface Http1Guard {
  /** Tells the guard a request's headers have arrived; call before the app sees it. */
  request(req: http.IncomingMessage, res: http.ServerResponse): void;
}

/**
 * Enforces the headers, request and keep-alive timeouts on an HTTP/1.1
 * connection handed over by the protocol sniffer. Node arms its own
 * headersTimeout and requestTimeout only for servers that listen themselves,
 * which ours never does, so one deadline per connection does it here:
 *
 * - headers: from the request's first byte until its headers are parsed;
 * - request: from the same start until its body has arrived (the answer and a
 *   streamed response do not count);
 * - keep-alive: from the end of a response until the next request's first
 *   byte. Node parses in native code and tells JS nothing before the headers
 *   are complete, so the deadline checks whether bytes came (`bytesRead`);
 *   if they did, the headers get a full timeout from then.
 *
 * A connection with no request in progress is idle, and is the first closed
 * when the connection cap is reached.
 */
export function guardHttp1(connection: TrackedConnection, limits: ServerLimits, metrics: ServerMetrics, now: () => number = Date.now): Http1Guard {
  const { socket } = connection;
  // The byte that chose HTTP/1.1 has just arrived: the first request starts now.
  let startedAt: number | undefined = now();
  const arriving = new Map<http.IncomingMessage, number>(); // request -> deadline for its body
  const answering = new Set<http.ServerResponse>();

  const timedOut = (what: string, ms: number) =>
    rawErrorResponse(408, "deadline_exceeded", `the ${what} did not arrive within ${ms} ms`);

  function awaitHeaders(start: number): void {
    connection.idle();
    connection.deadline(start + limits.headersTimeoutMs - now(), () => {
      metrics.closed("headers_timeout");
      closeWithResponse(socket, timedOut("request headers", limits.headersTimeoutMs));
    });
  }

  function awaitNextRequest(): void {
    const bytesAtIdle = socket.bytesRead;
    connection.idle();
    connection.deadline(limits.keepAliveTimeoutMs, () => {
      if (socket.bytesRead === bytesAtIdle) {
        metrics.closed("keep_alive_timeout");
        socket.destroy();
        return;
      }
      startedAt = now();
      awaitHeaders(startedAt);
    });
  }

  function bodyTimedOut(): void {
    for (const req of arriving.keys()) if (req.complete) arriving.delete(req);
    if (arriving.size > 0) {
      // Raw bytes are safe only while no response on this connection has started.
      const started = [...answering].some((res) => res.headersSent);
      metrics.closed("request_timeout");
      closeWithResponse(socket, started ? undefined : timedOut("request body", limits.requestTimeoutMs));
    } else {
      update();
    }
  }

  function update(): void {
    if (arriving.size > 0) {
      connection.busy();
      connection.deadline(Math.min(...arriving.values()) - now(), bodyTimedOut);
    } else if (answering.size > 0) {
      connection.busy();
      connection.clearDeadline();
    } else {
      awaitNextRequest();
    }
  }

  awaitHeaders(startedAt);
  return {
    request(req, res) {
      // Headers that complete after we gave up on them find the socket half-closed: nothing can answer them.
      if (socket.writableEnded) {
        socket.destroy();
        return;
      }
      const start = startedAt ?? now();
      startedAt = undefined;
      answering.add(res);
      res.once("close", () => {
        answering.delete(res);
        update();
      });
      if (!req.complete && hasBody(req)) {
        arriving.set(req, start + limits.requestTimeoutMs);
        const arrived = () => {
          if (arriving.delete(req)) update();
        };
        req.once("end", arrived);
        req.once("close", arrived);
      }
      update();
    },
  };
}

/** An HTTP/1.1 request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3): it has arrived with its headers. */
function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}
