import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { platformTimers, type Sleep, sleepWith, type Timers } from "./abortable-sleep.ts";
import { type AgentIdentity, agentAuthorization } from "./agent-authorization.ts";
import { type ClientLogger, completeLogger } from "./client-logger.ts";
import type { ClientMetrics } from "./client-metrics.ts";
import { type Credential, toCredential } from "./credential.ts";
import { inputRulesInterceptor } from "./input-rules-interceptor.ts";
import { interceptTransport } from "./intercept-transport.ts";
import { NexusClientError } from "./nexus-client-error.ts";
import {
  type CreateSessionInput, type ExchangedCredential, type ExchangeOptions, type IssuedSession, type SessionInfo,
  toExchangedCredential, toIssuedSession, toSessionInfo,
} from "./session.ts";
import { waitForActive, type WaitForActiveOptions } from "./wait-for-active.ts";
import { type RetryOptions, withRetry } from "./with-retry.ts";

/** Options of {@linkcode createNexusClient}. */
export interface NexusClientOptions {
  /** The Gateway's URL, for example `https://nexus-gateway.example.com`. */
  readonly baseUrl: string;
  /** A registered agent's API key (`nxa_...`, from POST /agents), or an unscoped AGENT_API_KEYS key. Give this or `agent`. */
  readonly apiKey?: string;
  /**
   * A registered agent that signs an assertion for every call instead of
   * sending a key: `{ id, privateJwk }` or `{ id, signer }`. Give this or `apiKey`.
   */
  readonly agent?: AgentIdentity;
  /** `aud` of the assertions signed from `agent.privateJwk`: the Gateway's GATEWAY_PUBLIC_URL. @default the origin of `baseUrl` */
  readonly audience?: string;
  /** `"connect"` (default) or `"grpc-web"` over fetch, or any Connect transport, such as `grpcTransport(url)` from `@nexus-broker/client/node`. */
  readonly transport?: Transport | "connect" | "grpc-web";
  /** The fetch the built-in transports use. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  readonly retry?: RetryOptions;
  /** @default JSON lines on stderr (console.error), info and above */
  readonly logger?: ClientLogger;
  readonly metrics?: ClientMetrics;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  /** Uniform in [0, 1); drives the backoff jitter. @default Math.random */
  readonly random?: () => number;
  /** The timers of backoff waits and polling. @default the platform's */
  readonly timers?: Timers;
}

/** Per-call options. */
export interface NexusCallOptions {
  /** Abandons the call (and its retries); the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** The deadline of each attempt; it travels to the Broker and the provider call. */
  readonly timeoutMs?: number;
}

/** Input of {@linkcode NexusClient.requestConnection}. */
export interface RequestConnectionInput {
  /** The workspace the connection belongs to; resolveToken finds it by this. */
  readonly userId: string;
  /** The provider by name or alias; give this or `providerId`. */
  readonly providerName?: string;
  readonly providerId?: string;
  /** Scopes to ask for; the provider's defaults when empty. */
  readonly scopes?: readonly string[];
  /** Where the browser returns after consent; on one of the Broker's ALLOWED_RETURN_DOMAINS. */
  readonly returnUrl: string;
}

/** A started connection: send the user to `authUrl`, keep `connectionId`. */
export interface ConnectionRequest {
  readonly authUrl: string;
  readonly connectionId: string;
  readonly state: string;
  readonly providerId: string;
  readonly scopes: readonly string[];
  /** When the handshake expires, unix seconds. */
  readonly expiresAt: number;
}

/** A connection's status: `pending`, `active`, `failed`, `attention_required` or `revoked`, and why. */
export interface ConnectionStatus {
  readonly status: string;
  readonly reason: string;
}

/** The Gateway API for agents. Every method throws {@linkcode NexusClientError}. */
export interface NexusClient {
  requestConnection(input: RequestConnectionInput, options?: NexusCallOptions): Promise<ConnectionRequest>;
  checkConnection(connectionId: string, options?: NexusCallOptions): Promise<ConnectionStatus>;
  /** Polls until the connection is active; see {@linkcode WaitForActiveOptions}. */
  waitForActive(connectionId: string, options?: WaitForActiveOptions): Promise<ConnectionStatus>;
  getToken(connectionId: string, options?: NexusCallOptions): Promise<Credential>;
  /** The credential of a workspace's newest active connection to a provider. */
  resolveToken(workspaceId: string, providerName: string, options?: NexusCallOptions): Promise<Credential>;
  /** Forces a refresh (use it when the provider answers 401 to a token that should be valid). */
  refresh(connectionId: string, options?: NexusCallOptions): Promise<Credential>;
  /**
   * Lets another agent act on a connection within a fixed clearance: as the
   * connection's owner (a root session) or as the holder of a session for it
   * (a child, which must fit inside that session). The token is shown once.
   */
  createSession(input: CreateSessionInput, options?: NexusCallOptions): Promise<IssuedSession>;
  /** A session as it is now: for the agent holding it, the agents that delegated it and the connection's owner. */
  getSession(sessionId: string, options?: NexusCallOptions): Promise<SessionInfo>;
  /** Revokes a session and every session delegated from it: for the agents that delegated it and the connection's owner. */
  revokeSession(sessionId: string, options?: NexusCallOptions): Promise<SessionInfo>;
  /**
   * RFC 8693 token exchange: a session token this agent holds for the
   * provider credential, within the session's clearance (optionally fewer
   * scopes). Refusals carry the OAuth reason: `invalid_grant` (a bad,
   * expired or revoked session, or another agent's), `invalid_scope`,
   * `invalid_target`, `invalid_request`.
   */
  exchange(sessionToken: string, options?: ExchangeOptions): Promise<ExchangedCredential>;
}

/**
 * Creates a client of the Nexus Gateway over Connect (default), gRPC-Web or
 * any Connect transport. The agent's credential goes in `Authorization:
 * Bearer` via an interceptor: its API key, or a freshly signed assertion for
 * every request (each retry and each poll included). Input that breaks the
 * contract's input rules fails before it is sent. `unavailable`-class
 * errors are retried with backoff, nothing else is.
 */
export function createNexusClient(options: NexusClientOptions): NexusClient {
  if (typeof options.baseUrl !== "string" || !URL.canParse(options.baseUrl)) throw invalid(`baseUrl must be an absolute URL, got "${options.baseUrl}"`);
  const logger = completeLogger(options.logger);
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const timers = options.timers ?? platformTimers;
  const sleep: Sleep = sleepWith(timers);
  const metrics = options.metrics;
  const auth = agentAuthorization({ baseUrl: options.baseUrl, apiKey: options.apiKey, agent: options.agent, audience: options.audience, now });
  const rpc = createClient(GatewayService, buildTransport(options, [inputRulesInterceptor, auth]));

  function call<T>(what: string, run: (o: { signal?: AbortSignal; timeoutMs?: number }) => Promise<T>, o: NexusCallOptions = {}): Promise<T> {
    const callOptions = { ...(o.signal === undefined ? {} : { signal: o.signal }), ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }) };
    return withRetry(() => run(callOptions), { retry: options.retry, random, sleep, logger, what, signal: o.signal });
  }

  async function counted<T>(kind: "tokenFetch" | "refresh", run: () => Promise<T>): Promise<T> {
    try {
      const credential = await run();
      metrics?.[kind]("success");
      return credential;
    } catch (error) {
      metrics?.[kind]("error");
      throw error;
    }
  }

  const client: NexusClient = {
    async requestConnection(input, o) {
      const r = await call("RequestConnection", (co) => rpc.requestConnection({
        userId: input.userId, providerName: input.providerName ?? "", providerId: input.providerId ?? "",
        scopes: [...(input.scopes ?? [])], returnUrl: input.returnUrl,
      }, co), o);
      return { authUrl: r.authUrl, connectionId: r.connectionId, state: r.state, providerId: r.providerId, scopes: [...r.scopes], expiresAt: r.expiresAt };
    },
    async checkConnection(connectionId, o) {
      const r = await call("CheckConnection", (co) => rpc.checkConnection({ connectionId }, co), o);
      return { status: r.status, reason: r.reason };
    },
    waitForActive(connectionId, o = {}) {
      return waitForActive((signal, timeoutMs) => client.checkConnection(connectionId, { ...(signal === undefined ? {} : { signal }), ...(timeoutMs === undefined ? {} : { timeoutMs }) }), o, { now, random, sleep, logger });
    },
    getToken(connectionId, o) {
      return counted("tokenFetch", async () => toCredential((await call("GetToken", (co) => rpc.getToken({ connectionId }, co), o)).credential));
    },
    resolveToken(workspaceId, providerName, o) {
      return counted("tokenFetch", async () => {
        const res = await call("ResolveToken", (co) => rpc.resolveToken({ workspaceId, providerName }, co), o);
        return { ...toCredential(res.credential), ...(res.connectionId === "" ? {} : { connectionId: res.connectionId }) };
      });
    },
    refresh(connectionId, o) {
      return counted("refresh", async () => toCredential((await call("RefreshToken", (co) => rpc.refreshToken({ connectionId }, co), o)).credential));
    },
    async createSession(input, o) {
      const spec = {
        connectionId: input.connectionId, agentId: input.agentId, scopes: [...(input.scopes ?? [])], ttlSeconds: input.ttlSeconds ?? 0,
        allowedHosts: [...(input.allowedHosts ?? [])], parentSessionId: input.parentSessionId ?? "",
      };
      return toIssuedSession((await call("CreateSession", (co) => rpc.createSession({ spec }, co), o)).session);
    },
    async getSession(sessionId, o) {
      return toSessionInfo((await call("GetSession", (co) => rpc.getSession({ sessionId }, co), o)).session);
    },
    async revokeSession(sessionId, o) {
      return toSessionInfo((await call("RevokeSession", (co) => rpc.revokeSession({ sessionId }, co), o)).session);
    },
    exchange(sessionToken, o = {}) {
      if (typeof sessionToken !== "string" || sessionToken.trim() === "") return Promise.reject(invalid("sessionToken is required: the session token this agent was given"));
      const exchange = {
        grantType: tokenExchangeGrant, subjectToken: sessionToken.trim(), subjectTokenType: jwtTokenType,
        scope: (o.scopes ?? []).join(" "), resource: o.resource ?? "",
      };
      return counted("tokenFetch", async () => toExchangedCredential((await call("ExchangeToken", (co) => rpc.exchangeToken({ exchange }, co), o)).result));
    },
  };
  return client;
}

const tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange";
const jwtTokenType = "urn:ietf:params:oauth:token-type:jwt";

function buildTransport(options: NexusClientOptions, interceptors: Interceptor[]): Transport {
  const kind = options.transport ?? "connect";
  const common = { baseUrl: options.baseUrl, interceptors, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) };
  if (kind === "connect") return createConnectTransport(common);
  if (kind === "grpc-web") return createGrpcWebTransport(common);
  if (typeof kind === "string") throw invalid(`transport must be "connect", "grpc-web" or a Transport, got "${kind}"`);
  return interceptTransport(kind, options.baseUrl, interceptors);
}

function invalid(message: string): NexusClientError {
  return new NexusClientError(`invalid_argument: ${message}`, { code: "invalid_argument", reason: "invalid_argument" });
}
