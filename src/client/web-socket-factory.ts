import { NexusClientError } from "./nexus-client-error.ts";

/** The close event fields maintainWebSocket reads. */
export interface WebSocketCloseEventLike {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/**
 * The part of the WHATWG WebSocket API maintainWebSocket uses. The browser,
 * Deno and undici WebSocket, and the `ws` package's, all fit.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open", listener: (event: unknown) => void): void;
  addEventListener(type: "message", listener: (event: { readonly data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: WebSocketCloseEventLike) => void): void;
  addEventListener(type: "error", listener: (event: unknown) => void): void;
}

/**
 * Opens a WebSocket with handshake headers. On Node 20 (no global
 * WebSocket), use the `ws` package:
 *
 * ```ts
 * import WebSocket from "ws";
 * const webSocket = (url, { headers, protocols }) => new WebSocket(url, protocols, { headers });
 * ```
 */
export type WebSocketFactory<S extends WebSocketLike = WebSocketLike> = (
  url: string,
  init: { readonly headers: Record<string, string>; readonly protocols: string[] },
) => S;

type HeaderCapableWebSocket = new (url: string, init: { headers: Record<string, string>; protocols: string[] }) => WebSocketLike;

/**
 * The default factory: `globalThis.WebSocket`. Deno, Bun and Node 22+
 * (undici) accept handshake headers as `new WebSocket(url, { headers,
 * protocols })`; browsers cannot set handshake headers at all, so a
 * credential that needs them is refused there rather than sent without it.
 */
export function defaultWebSocketFactory(): WebSocketFactory {
  return (url, { headers, protocols }) => {
    const Ctor = (globalThis as { WebSocket?: unknown }).WebSocket;
    if (typeof Ctor !== "function") {
      throw unsupportedRuntime(
        'this runtime has no global WebSocket (Node 20): pass a factory, e.g. `import WebSocket from "ws"` and ' +
        "`webSocket: (url, { headers, protocols }) => new WebSocket(url, protocols, { headers })`",
      );
    }
    if (Object.keys(headers).length === 0) return new (Ctor as new (url: string, protocols: string[]) => WebSocketLike)(url, protocols);
    const agent = (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent;
    // Server runtimes identify themselves; a browser's WebSocket would silently drop the headers.
    if (typeof agent !== "string" || !/^(Deno|Node\.js|Bun)\//.test(agent)) {
      throw unsupportedRuntime(
        "this runtime's WebSocket cannot send handshake headers (browsers cannot); the credential needs them. " +
        "Pass a webSocket factory that can, or use a query_param provider",
      );
    }
    return new (Ctor as HeaderCapableWebSocket)(url, { headers, protocols });
  };
}

function unsupportedRuntime(message: string): NexusClientError {
  return new NexusClientError(`unsupported_runtime: ${message}`, { code: "failed_precondition", reason: "unsupported_runtime" });
}
