/**
 * The Nexus agent client (`@nexus-broker/client`): the Gateway API (with an agent's
 * API key, or assertions signed with its key pair), sessions and token
 * exchange, credential strategies for fetch, Connect and WebSockets, a token
 * cache, an authenticated fetch (on a connection, or on a session within its
 * allowed hosts), a self-healing WebSocket and telemetry. Web-platform APIs
 * only, so it runs in Node 20+, Deno and browsers. Node's gRPC transport is
 * in `@nexus-broker/client/node`.
 */
export type { AgentIdentity } from "./agent-authorization.ts";
export { allowedHostsOf, hostAllowed } from "./allowed-hosts.ts";
export { applyCredential, type ApplyCredentialOptions } from "./apply-credential.ts";
export { applyCredentialToUrl } from "./apply-credential-to-url.ts";
export { assertionAlgorithms, type AssertionSigner, type AssertionSignerOptions, createAssertionSigner } from "./assertion-signer.ts";
export { authenticatedFetch, type AuthenticatedFetchExtra, type AuthenticatedFetchTarget } from "./authenticated-fetch.ts";
export { type ClientLogger, type ClientLogLevel, createConsoleLogger, type LogFields } from "./client-logger.ts";
export { type ClientMetrics, createClientMetrics, type MetricsRegistry, type OperationStatus } from "./client-metrics.ts";
export {
  type ConnectionRequest, type ConnectionStatus, createNexusClient, type NexusCallOptions, type NexusClient, type NexusClientOptions,
  type RequestConnectionInput,
} from "./create-nexus-client.ts";
export type { Credential, CredentialStrategy } from "./credential.ts";
export { credentialHeaders } from "./credential-headers.ts";
export { credentialInterceptor, type CredentialSource } from "./credential-interceptor.ts";
export {
  type GrpcStreamCall, type GrpcStreamCloseInfo, type GrpcStreamHandlers, type GrpcStreamInfo, maintainGrpcStream, type MaintainGrpcStreamOptions,
} from "./maintain-grpc-stream.ts";
export { maintainWebSocket, type MaintainWebSocketOptions, type WebSocketCloseInfo, type WebSocketHandlers } from "./maintain-web-socket.ts";
export { type FieldViolation, NexusClientError } from "./nexus-client-error.ts";
export { inputLimits } from "../shared/input-rules.ts";
export type { CreateSessionInput, ExchangedCredential, ExchangeOptions, IssuedSession, SessionInfo } from "./session.ts";
export type { Timers } from "./abortable-sleep.ts";
export { createTokenCache, type TokenCache, type TokenCacheOptions, type TokenKey } from "./token-cache.ts";
export type { WaitForActiveOptions } from "./wait-for-active.ts";
export { defaultWebSocketFactory, type WebSocketCloseEventLike, type WebSocketFactory, type WebSocketLike } from "./web-socket-factory.ts";
export { webSocketHandshake } from "./web-socket-handshake.ts";
export type { RetryOptions } from "./with-retry.ts";
