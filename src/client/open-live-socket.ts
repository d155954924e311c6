import type { Timers } from "./abortable-sleep.ts";
import type { ClientLogger, LogFields } from "./client-logger.ts";
import type { Credential } from "./credential.ts";
import type { WebSocketHandlers } from "./maintain-web-socket.ts";
import { NexusClientError } from "./nexus-client-error.ts";
import type { WebSocketFactory, WebSocketLike } from "./web-socket-factory.ts";
import { webSocketHandshake } from "./web-socket-handshake.ts";

/** An open socket of maintainWebSocket and the credential it authenticated with. */
export interface LiveSocket<S> {
  readonly socket: S;
  readonly credential: Credential;
  openedAt: number;
  closed: boolean;
  /** Set when the loop closes it on purpose, so its close is not taken for a drop. */
  retired: "rotation" | "stop" | undefined;
  readonly onClosed: (() => void)[];
}

/** What opening a socket needs from the loop. */
export interface LiveSocketContext<S extends WebSocketLike> {
  readonly url: string;
  readonly protocols: string[];
  readonly factory: WebSocketFactory<S>;
  readonly signal: AbortSignal;
  readonly now: () => number;
  readonly handlers: WebSocketHandlers<S>;
  readonly logger: Required<ClientLogger>;
  readonly where: LogFields;
  report(error: unknown, message: string): void;
  safely(run: () => void): void;
  /** The server or network closed an open socket the loop did not retire. */
  onRemoteClose(live: LiveSocket<S>): void;
}

/**
 * Opens a socket with `credential` in its handshake and resolves once it is
 * open. A handshake that fails (a 401 on the upgrade, a refused connection)
 * rejects with a retryable `websocket_failed`; an abort while connecting
 * closes the half-open socket and rejects with the signal's reason.
 */
export function openLiveSocket<S extends WebSocketLike>(credential: Credential, ctx: LiveSocketContext<S>): Promise<LiveSocket<S>> {
  const { signal, handlers } = ctx;
  const handshake = webSocketHandshake(ctx.url, credential);
  let socket: S;
  try {
    socket = ctx.factory(handshake.url, { headers: handshake.headers, protocols: ctx.protocols });
  } catch (error) {
    if (error instanceof NexusClientError) throw error;
    // The URL may carry a query_param credential; keep it out of the message.
    const detail = (error instanceof Error ? error.message : String(error)).split(handshake.url).join("<url>");
    throw new NexusClientError(`websocket_failed: the WebSocket factory threw: ${detail}`, {
      code: "invalid_argument", reason: "websocket_failed", cause: error,
    });
  }
  const live: LiveSocket<S> = { socket, credential, openedAt: 0, closed: false, retired: undefined, onClosed: [] };
  return new Promise<LiveSocket<S>>((resolve, reject) => {
    let opened = false;
    let failure: unknown;
    const stopConnecting = () => {
      live.retired = "stop";
      socket.close();
      reject(signal.reason);
    };
    signal.addEventListener("abort", stopConnecting, { once: true });
    socket.addEventListener("open", () => {
      opened = true;
      signal.removeEventListener("abort", stopConnecting);
      live.openedAt = ctx.now();
      ctx.logger.info("websocket open", ctx.where);
      ctx.safely(() => handlers.onOpen?.(socket));
      resolve(live);
    });
    socket.addEventListener("message", (event) => ctx.safely(() => handlers.onMessage?.(event.data, socket)));
    socket.addEventListener("error", (event) => {
      failure = (event as { error?: unknown }).error ?? event;
      if (opened && live.retired === undefined) ctx.report(failure, "websocket error");
    });
    socket.addEventListener("close", (event) => {
      live.closed = true;
      for (const notify of live.onClosed.splice(0)) notify();
      if (!opened) {
        signal.removeEventListener("abort", stopConnecting);
        const detail = failure instanceof Error ? failure.message : `close code ${event.code}`;
        reject(new NexusClientError(`websocket_failed: the WebSocket handshake failed (${detail})`, {
          code: "unavailable", reason: "websocket_failed", retryable: true, cause: failure,
        }));
        return;
      }
      ctx.safely(() => handlers.onClose?.({ code: event.code, reason: event.reason, wasClean: event.wasClean, cause: live.retired ?? "remote" }));
      if (live.retired === undefined) ctx.onRemoteClose(live);
    });
  });
}

/**
 * Closes a socket on purpose (code 1000). For a rotation it does not wait;
 * when the loop stops it waits (at most 2 s) for the close to complete, and
 * terminates a socket that can be (`ws`) if the peer never answers, so no
 * handle outlives maintainWebSocket.
 */
export async function retireLiveSocket<S extends WebSocketLike>(live: LiveSocket<S>, cause: "rotation" | "stop", timers: Timers): Promise<void> {
  live.retired = cause;
  if (live.closed) return;
  live.socket.close(1000, cause === "rotation" ? "credential rotation" : "client stopped");
  if (cause === "rotation") return;
  let timer: unknown;
  await new Promise<void>((resolve) => {
    live.onClosed.push(resolve);
    timer = timers.setTimeout(resolve, 2000);
  });
  timers.clearTimeout(timer);
  const terminate = (live.socket as { terminate?: unknown }).terminate;
  if (!live.closed && typeof terminate === "function") terminate.call(live.socket);
}
