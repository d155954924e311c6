/**
 * Sessions through the Gateway on each protocol, and a stack to try them on:
 * a real OpenID provider (oidc-provider, which rotates refresh tokens and
 * narrows a token's scopes on a refresh that asks for fewer), a Broker, a
 * Gateway whose GATEWAY_PUBLIC_URL is its real URL, agents A, B and C, and
 * a connection A made for a user with openid email profile offline_access.
 *
 *   const f = await startSessionStack();
 *   const a = sessionClients.REST(f.gatewayUrl, f.agents.A.apiKey);
 *   const s = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid"] });
 */
import assert from "node:assert/strict";
import { type DescMessage, fromBinary, type JsonObject, toJson } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { StatusSchema } from "../../gen/google/rpc/status_pb.ts";
import { IssuedSessionSchema, SessionInfoSchema, TokenExchangeResultSchema } from "../../gen/nexus/common/v1/session_pb.ts";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import type { RunningService } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { registerAgent, type RegisteredAgent } from "./agents.ts";
import { brokerRest, deliverCallback, registerProvider } from "./broker-api.ts";
import { freePort } from "./free-port.ts";
import { grpcJsClient } from "./grpc-js.ts";
import { type StackOptions, startStack, type TestStack } from "./stack.ts";
import { startTestIdp, type TestIdp, type TestIdpOptions } from "./test-idp.ts";

/** RFC 8693 names. */
export const tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange";
export const jwtTokenType = "urn:ietf:params:oauth:token-type:jwt";
export const accessTokenType = "urn:ietf:params:oauth:token-type:access_token";

/** The scopes the user grants the connection. */
export const connectionScopes = ["openid", "email", "profile", "offline_access"] as const;

/** What CreateSession takes (the `spec`), in proto JSON names. */
export interface SessionSpecJson {
  connection_id: string;
  agent_id: string;
  scopes?: string[];
  ttl_seconds?: number;
  allowed_hosts?: string[];
  parent_session_id?: string;
}

/** An issued session, in proto JSON names. */
export interface IssuedSessionJson {
  session_id: string;
  session_token: string;
  scopes: string[];
  expires_at: number;
  parent_session_id: string;
  allowed_hosts: string[];
}

/** What the exchange answers, in proto JSON names. */
export interface ExchangeJson {
  access_token: string;
  issued_token_type: string;
  token_type: string;
  expires_in: number;
  scope: string;
  credential: { strategy: { type: string; config: Record<string, string> }; credentials: Record<string, string>; expires_at?: number };
}

/** The RFC 8693 fields an exchange sends, besides grant_type and subject_token_type (defaulted). */
export interface ExchangeForm {
  subject_token: string;
  scope?: string;
  resource?: string;
  grant_type?: string;
  subject_token_type?: string;
  requested_token_type?: string;
  actor_token?: string;
  client_id?: string;
}

/**
 * A refusal as the protocol reports it: `error` is the RFC 6749 error
 * (REST token exchange) or the ErrorInfo reason (everything else); `status`
 * the HTTP status (REST) and `code` the Connect code name (Connect, gRPC).
 */
export class SessionCallError extends Error {
  readonly error: string | undefined;
  readonly status: number | undefined;
  readonly code: string | undefined;
  constructor(error: string | undefined, message: string, status?: number, code?: string) {
    super(`${error ?? "?"}${status === undefined ? "" : ` (HTTP ${status})`}${code === undefined ? "" : ` [${code}]`}: ${message}`);
    this.error = error;
    this.status = status;
    this.code = code;
  }
}

/** The session RPCs of the Gateway through one protocol, as one agent. */
export interface SessionTestClient {
  readonly protocol: Protocol;
  createSession(spec: SessionSpecJson): Promise<IssuedSessionJson>;
  getSession(sessionId: string): Promise<JsonObject>;
  revokeSession(sessionId: string): Promise<JsonObject>;
  exchange(form: ExchangeForm): Promise<ExchangeJson>;
  close(): void;
}

export type Protocol = "REST" | "Connect" | "gRPC";

function exchangeFields(form: ExchangeForm): Record<string, string> {
  return { grant_type: tokenExchangeGrant, subject_token_type: jwtTokenType, ...form } as Record<string, string>;
}

/** REST with plain fetch: JSON for sessions, an RFC 8693 form for the exchange. */
function restSessionClient(baseUrl: string, key: string): SessionTestClient {
  const auth = { authorization: `Bearer ${key}` };
  async function call(method: string, path: string, body?: unknown): Promise<JsonObject> {
    const res = await fetch(`${baseUrl}${path}`, {
      method, headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as JsonObject;
    if (!res.ok) {
      const details = (json.details as { debug?: { reason?: string } }[] | undefined) ?? [];
      throw new SessionCallError(details[0]?.debug?.reason, String(json.message), res.status);
    }
    return json;
  }
  return {
    protocol: "REST",
    createSession: async (spec) => (await call("POST", "/v1/sessions", spec)) as unknown as IssuedSessionJson,
    getSession: (id) => call("GET", `/v1/sessions/${encodeURIComponent(id)}`),
    revokeSession: (id) => call("DELETE", `/v1/sessions/${encodeURIComponent(id)}`),
    exchange: async (form) => {
      const res = await restExchange(baseUrl, new URLSearchParams(exchangeFields(form)), auth);
      if (res.status !== 200) throw new SessionCallError(String(res.body.error), String(res.body.error_description), res.status);
      return res.body as unknown as ExchangeJson;
    },
    close: () => {},
  };
}

/** POST /v1/token-exchange with a form body (or JSON when given an object); the answer as it came. */
export async function restExchange(baseUrl: string, body: URLSearchParams | Record<string, string>, headers: Record<string, string>): Promise<{ status: number; body: JsonObject; headers: Headers }> {
  const form = body instanceof URLSearchParams;
  const res = await fetch(`${baseUrl}/v1/token-exchange`, {
    method: "POST",
    headers: { ...headers, "content-type": form ? "application/x-www-form-urlencoded" : "application/json" },
    body: form ? body.toString() : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as JsonObject, headers: res.headers };
}

const codeNames: Record<number, string> = Object.fromEntries(
  Object.entries(Code).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k.replace(/[A-Z]/g, (c, i) => (i === 0 ? c : `_${c}`)).toLowerCase()]),
);

/** connect-es, Connect protocol with JSON. */
function connectSessionClient(baseUrl: string, key: string): SessionTestClient {
  const client = createClient(GatewayService, createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }));
  const headers = { authorization: `Bearer ${key}` };
  async function call(schema: DescMessage, run: () => Promise<unknown>): Promise<JsonObject> {
    try {
      return toJson(schema, (await run()) as never, { useProtoFieldName: true, alwaysEmitImplicit: true }) as JsonObject;
    } catch (error) {
      const e = ConnectError.from(error);
      throw new SessionCallError(e.findDetails(ErrorInfoSchema)[0]?.reason, e.rawMessage, undefined, codeNames[e.code]);
    }
  }
  return {
    protocol: "Connect",
    createSession: async (spec) => (await call(IssuedSessionSchema, async () => (await client.createSession({
      spec: {
        connectionId: spec.connection_id, agentId: spec.agent_id, scopes: spec.scopes ?? [], ttlSeconds: spec.ttl_seconds ?? 0,
        allowedHosts: spec.allowed_hosts ?? [], parentSessionId: spec.parent_session_id ?? "",
      },
    }, { headers })).session)) as unknown as IssuedSessionJson,
    getSession: (sessionId) => call(SessionInfoSchema, async () => (await client.getSession({ sessionId }, { headers })).session),
    revokeSession: (sessionId) => call(SessionInfoSchema, async () => (await client.revokeSession({ sessionId }, { headers })).session),
    exchange: async (form) => {
      const f = exchangeFields(form);
      return (await call(TokenExchangeResultSchema, async () => (await client.exchangeToken({
        exchange: {
          grantType: f.grant_type!, subjectToken: f.subject_token!, subjectTokenType: f.subject_token_type!, scope: f.scope ?? "",
          resource: f.resource ?? "", requestedTokenType: f.requested_token_type ?? "", actorToken: f.actor_token ?? "", clientId: f.client_id ?? "",
        },
      }, { headers })).result)) as unknown as ExchangeJson;
    },
    close: () => {},
  };
}

/** gRPC with @grpc/grpc-js loading the .proto files; the reason from the ErrorInfo in grpc-status-details-bin. */
function grpcSessionClient(baseUrl: string, key: string): SessionTestClient {
  const c = grpcJsClient(baseUrl, "nexus/gateway/v1/gateway_service.proto", "nexus.gateway.v1.GatewayService");
  const md = { authorization: `Bearer ${key}` };
  async function call(method: string, req: object): Promise<JsonObject> {
    try {
      return (await c[method]!(req, md)) as JsonObject;
    } catch (error) {
      const e = error as { code: number; details: string; metadata?: { get(k: string): unknown[] } };
      const bin = e.metadata?.get("grpc-status-details-bin")?.[0] as Uint8Array | undefined;
      const status = bin === undefined ? undefined : fromBinary(StatusSchema, bin);
      const info = status?.details.map((any) => anyUnpack(any, ErrorInfoSchema)).find((x) => x !== undefined);
      // grpc-js leaves connect-es's percent-encoding of grpc-message in place.
      throw new SessionCallError(info?.reason, decodeURIComponent(e.details), undefined, codeNames[e.code]);
    }
  }
  // grpc-js leaves out fields at their defaults; fill them in so answers compare like the other protocols'.
  const issued = (s: JsonObject): IssuedSessionJson => ({ scopes: [], allowed_hosts: [], parent_session_id: "", expires_at: 0, ...s } as unknown as IssuedSessionJson);
  return {
    protocol: "gRPC",
    createSession: async (spec) => issued((await call("CreateSession", { spec })).session as JsonObject),
    getSession: async (session_id) => (await call("GetSession", { session_id })).session as JsonObject,
    revokeSession: async (session_id) => (await call("RevokeSession", { session_id })).session as JsonObject,
    exchange: async (form) => {
      const r = (await call("ExchangeToken", { exchange: exchangeFields(form) })).result as JsonObject;
      const credential = r.credential as JsonObject;
      return { scope: "", expires_in: 0, ...r, credential: { ...credential, strategy: { config: {}, ...(credential.strategy as JsonObject) } } } as unknown as ExchangeJson;
    },
    close: () => c.close(),
  };
}

/** A session client per protocol. */
export const sessionClients: Record<Protocol, (baseUrl: string, key: string) => SessionTestClient> = {
  REST: restSessionClient,
  Connect: connectSessionClient,
  gRPC: grpcSessionClient,
};

export const protocols = Object.keys(sessionClients) as Protocol[];

/** Session clients for agents A, B and C on one protocol (at `baseUrl`, default the stack's Gateway); close them when done. */
export function agentClients(f: SessionStack, protocol: Protocol, baseUrl = f.gatewayUrl): [SessionTestClient, SessionTestClient, SessionTestClient] {
  return [f.agents.A, f.agents.B, f.agents.C].map((agent) => sessionClients[protocol](baseUrl, agent.apiKey)) as [SessionTestClient, SessionTestClient, SessionTestClient];
}

/** The Connect code of each token exchange refusal, and the HTTP status REST answers with it (RFC 6749 section 5.2). */
export const refusalCodes: Record<string, { code: string; status: number }> = {
  invalid_request: { code: "invalid_argument", status: 400 },
  unsupported_grant_type: { code: "invalid_argument", status: 400 },
  invalid_grant: { code: "permission_denied", status: 400 },
  invalid_scope: { code: "permission_denied", status: 400 },
  invalid_target: { code: "invalid_argument", status: 400 },
  invalid_client: { code: "unauthenticated", status: 401 },
};

/**
 * Asserts that an exchange was refused with `error`: the RFC 6749 error and
 * its HTTP status over REST, the reason and its code over Connect and gRPC.
 */
export async function assertExchangeRefused(p: Promise<unknown>, error: keyof typeof refusalCodes | string, what = ""): Promise<SessionCallError> {
  const e = await refusal(p);
  const expected = refusalCodes[error]!;
  assert.equal(e.error, error, `${what}: ${e.message}`);
  if (e.status !== undefined) assert.equal(e.status, expected.status, `${what}: HTTP status of ${error}`);
  else assert.equal(e.code, expected.code, `${what}: code of ${error}`);
  return e;
}

/** Resolves to the SessionCallError `p` fails with; fails the test when `p` succeeds. */
export async function refusal(p: Promise<unknown>): Promise<SessionCallError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof SessionCallError) return error;
    throw error;
  }
  assert.fail("expected the call to be refused");
}

/** The claims the IdP's userinfo endpoint answers for `accessToken`, or its HTTP status when it refuses. */
export async function userinfo(idp: TestIdp, accessToken: string): Promise<Record<string, unknown> | number> {
  const res = await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  if (!res.ok) {
    await res.body?.cancel();
    return res.status;
  }
  return (await res.json()) as Record<string, unknown>;
}

/** The decoded header and payload of a JWT (no verification). */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h = "", p = ""] = token.split(".");
  return { header: JSON.parse(Buffer.from(h, "base64url").toString()), payload: JSON.parse(Buffer.from(p, "base64url").toString()) };
}

/** A running session stack. */
export interface SessionStack {
  readonly stack: TestStack;
  readonly idp: TestIdp;
  /** The Gateway; its GATEWAY_PUBLIC_URL (the issuer of session tokens) is this URL. */
  readonly gateway: RunningService;
  readonly gatewayUrl: string;
  readonly gatewayEnv: Record<string, string>;
  /** A owns the connection; B and C are delegates. */
  readonly agents: Record<"A" | "B" | "C", RegisteredAgent>;
  /** A's connection to the IdP with all of {@linkcode connectionScopes}. */
  readonly connectionId: string;
  readonly providerName: string;
  close(): Promise<void>;
}

/** Options of {@linkcode startSessionStack}. */
export interface SessionStackOptions extends Pick<StackOptions, "now" | "brokerEnv" | "fetch" | "housekeepingIntervalMs"> {
  /** Whether the provider narrows tokens on refresh (default true). */
  narrow?: boolean;
  idp?: Partial<TestIdpOptions>;
  /** Gateway environment on top of the defaults. */
  gatewayEnv?: Record<string, string>;
}

/**
 * Starts the IdP, a Broker, a Gateway on a port chosen first (so its public
 * URL is real: OAuth libraries check the issuer against where they found the
 * metadata), registers agents A, B, C and connects A's user.
 */
export async function startSessionStack(options: SessionStackOptions = {}): Promise<SessionStack> {
  const idp = await startTestIdp({
    clients: [{ client_id: "nexus", client_secret: "s3cret", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }], ...options.idp,
  });
  const stack = await startStack({
    brokerOnly: true,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.brokerEnv === undefined ? {} : { brokerEnv: options.brokerEnv }),
    ...(options.housekeepingIntervalMs === undefined ? {} : { housekeepingIntervalMs: options.housekeepingIntervalMs }),
  });
  const port = await freePort();
  const gatewayUrl = `http://127.0.0.1:${port}`;
  const gatewayEnv = { ...stack.gatewayEnv, GATEWAY_PUBLIC_URL: gatewayUrl, ...options.gatewayEnv };
  const gateway = await startGateway(gatewayEnv, { port, logWrite: (l) => void stack.logs.push(l) });
  const providerName = "idp";
  await registerProvider(stack, {
    name: providerName, auth_type: "oauth2", client_id: "nexus", client_secret: "s3cret", issuer: idp.issuer, enable_discovery: true,
    scopes: [...connectionScopes], params: { narrow_scopes_on_refresh: options.narrow ?? true },
  });
  const agents = {
    A: await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-a" }),
    B: await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-b" }),
    C: await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-c" }),
  };
  const connectionId = await connect(gatewayUrl, agents.A.apiKey, stack, idp, "ws-user", providerName);
  return {
    stack, idp, gateway, gatewayUrl, gatewayEnv, agents, connectionId, providerName,
    async close() {
      await gateway.close();
      await stack.close();
      await idp.close();
    },
  };
}

/** Connects `workspace` to `provider` as the agent holding `key`, consenting at the IdP; returns the connection id. */
export async function connect(gatewayUrl: string, key: string, stack: TestStack, idp: TestIdp, workspace: string, provider: string): Promise<string> {
  const res = await fetch(`${gatewayUrl}/v1/request-connection`, {
    method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ user_id: workspace, provider_name: provider, return_url: "https://app.example.com/back" }),
  });
  const started = (await res.json()) as { connection_id: string; auth_url: string };
  assert.equal(res.status, 200, JSON.stringify(started));
  assert.equal((await deliverCallback(stack, await idp.authorize(started.auth_url))).status, 303);
  const check = await brokerRest(stack, "GET", `/connections/${started.connection_id}`);
  assert.equal((check.body.connection as { status?: string } | undefined)?.status ?? check.body.status, "active", JSON.stringify(check.body));
  return started.connection_id;
}
