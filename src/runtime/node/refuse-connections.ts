import type * as net from "node:net";
import type { Logger } from "../../shared/logger.ts";
import { closeWithResponse, rawErrorResponse } from "./close-with-response.ts";
import type { ServerMetrics } from "./server-metrics.ts";

/** Turns away connections past the cap. */
export interface ConnectionRefusals {
  refuse(socket: net.Socket): void;
}

/**
 * Creates the refusal path: an HTTP/1.1 503 with a Connect error body and
 * `connection: close`, written before the request is read (a client that
 * opened with the HTTP/2 preface sees the connection close). While more than
 * an eighth of the cap are being turned away at once, further ones are closed
 * without an answer, so a flood cannot spend the descriptors the cap keeps in
 * reserve. Logs at most one warning a minute, with the count since the last.
 */
export function createConnectionRefusals(maxConnections: number, logger: Logger, metrics: ServerMetrics, now: () => number = Date.now): ConnectionRefusals {
  const maxAnswering = Math.max(16, Math.floor(maxConnections / 8));
  const response = rawErrorResponse(503, "unavailable", "the server has too many open connections; retry later");
  let answering = 0;
  let refused = 0;
  let warnedAt = -Infinity;
  return {
    refuse(socket) {
      refused++;
      metrics.closed("refused");
      if (now() - warnedAt >= 60_000) {
        warnedAt = now();
        logger.warn("connections refused: SERVER_MAX_CONNECTIONS reached and none idle", { max_connections: maxConnections, refused });
        refused = 0;
      }
      if (answering >= maxAnswering) {
        socket.destroy();
        return;
      }
      answering++;
      socket.once("close", () => answering--);
      closeWithResponse(socket, response);
    },
  };
}
