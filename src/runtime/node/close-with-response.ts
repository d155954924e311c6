import type * as net from "node:net";

/** How long a socket we are closing may take to read our last words before it is destroyed. */
export const lingerMs = 1000;

/**
 * An HTTP/1.1 error response with a Connect JSON body and `connection:
 * close`, as bytes for a raw socket: written where no Node response object
 * exists (the connection cap, a malformed request) or can no longer be trusted
 * (a timed-out request).
 */
export function rawErrorResponse(status: 400 | 408 | 503, code: string, message: string): string {
  const body = JSON.stringify({ code, message: `${code}: ${message}` });
  const reason = { 400: "Bad Request", 408: "Request Timeout", 503: "Service Unavailable" }[status];
  const retry = status === 503 ? "retry-after: 1\r\n" : "";
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${retry}connection: close\r\n\r\n${body}`;
}

/**
 * Writes `response` (if any) and half-closes the socket, then destroys it
 * when the client closes its side or after {@linkcode lingerMs}, whichever
 * comes first. Destroying at once could reset the connection under the
 * response while the client is still sending, and the client would never read it;
 * waiting for the client alone would let it hold the socket forever.
 */
export function closeWithResponse(socket: net.Socket, response?: string): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
  // Whatever the client still sends is read and dropped, so its writes do not stall before it reads ours.
  socket.resume();
  if (response === undefined || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(response);
}
