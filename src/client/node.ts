/**
 * The Node.js entry of the Nexus client (`@nexus-broker/client/node`): transports that
 * need Node's HTTP/2. Everything else is in `@nexus-broker/client`, which runs in
 * browsers, Deno and Node alike.
 */
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport, type GrpcTransportOptions, Http2SessionManager } from "@connectrpc/connect-node";

/** A gRPC transport that can also drop its HTTP/2 connection. */
export interface GrpcTransport extends Transport {
  /** Closes the HTTP/2 session now (it is otherwise closed after idling). */
  close(): void;
}

/**
 * gRPC over HTTP/2 (prior knowledge on `http://`, TLS on `https://`) to the
 * Gateway, for `createNexusClient({ baseUrl, apiKey, transport: grpcTransport(baseUrl) })`.
 * The client adds the agent key itself; `options` are connect-node's.
 */
export function grpcTransport(baseUrl: string, options: Omit<GrpcTransportOptions, "baseUrl" | "sessionManager"> = {}): GrpcTransport {
  const sessionManager = new Http2SessionManager(baseUrl, {
    ...(options.pingIntervalMs === undefined ? {} : { pingIntervalMs: options.pingIntervalMs }),
    ...(options.pingTimeoutMs === undefined ? {} : { pingTimeoutMs: options.pingTimeoutMs }),
    ...(options.idleConnectionTimeoutMs === undefined ? {} : { idleConnectionTimeoutMs: options.idleConnectionTimeoutMs }),
  }, options.nodeOptions);
  const transport = createGrpcTransport({ ...options, baseUrl, sessionManager });
  return {
    unary: (...args) => transport.unary(...args),
    stream: (...args) => transport.stream(...args),
    close: () => sessionManager.abort(),
  };
}
