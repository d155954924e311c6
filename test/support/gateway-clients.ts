import { type DescMessage, fromBinary, fromJson, type JsonObject, type JsonValue, toJson } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { errorFromJson } from "@connectrpc/connect/protocol-connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { StatusSchema } from "../../gen/google/rpc/status_pb.ts";
import {
  CaptureCredentialResponseSchema, CheckConnectionResponseSchema, GatewayService, ListProvidersResponseSchema,
  RequestConnectionRequestSchema, RequestConnectionResponseSchema,
} from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { GetCaptureSchemaResponseSchema } from "../../gen/nexus/common/v1/capture_pb.ts";
import { CredentialSchema } from "../../gen/nexus/common/v1/credential_pb.ts";
import { grpcJsClient } from "./grpc-js.ts";

/** What an error's details say: the reason (ErrorInfo), the field at fault (BadRequest), the retry hint (RetryInfo). */
export interface ErrorDetails {
  readonly reason: string | undefined;
  readonly field?: { readonly path: string; readonly description: string } | undefined;
  readonly retryAfterSeconds?: number | undefined;
}

/** Reads {@linkcode ErrorDetails} from the google.rpc details of an error, on whatever protocol it came. */
export function detailsOf(error: Pick<ConnectError, "findDetails">): ErrorDetails {
  const violation = error.findDetails(BadRequestSchema)[0]?.fieldViolations[0];
  const delay = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
  return {
    reason: error.findDetails(ErrorInfoSchema)[0]?.reason,
    field: violation === undefined ? undefined : { path: violation.field, description: violation.description },
    retryAfterSeconds: delay === undefined ? undefined : Number(delay.seconds),
  };
}

/** An error as any protocol reports it: the Connect code name, its details, and (REST) the HTTP status. */
export class GatewayCallError extends Error {
  readonly code: string;
  readonly reason: string | undefined;
  readonly httpStatus: number | undefined;
  readonly field: ErrorDetails["field"];
  readonly retryAfterSeconds: number | undefined;
  constructor(code: string, details: ErrorDetails | string | undefined, message: string, httpStatus?: number) {
    super(message);
    const d: ErrorDetails = typeof details === "object" ? details : { reason: details };
    this.code = code;
    this.reason = d.reason;
    this.field = d.field;
    this.retryAfterSeconds = d.retryAfterSeconds;
    this.httpStatus = httpStatus;
  }
}

/** The Gateway's API through one protocol; results are JSON with proto (snake_case) names. */
export interface GatewayTestClient {
  readonly protocol: string;
  requestConnection(body: Record<string, unknown>): Promise<JsonObject>;
  checkConnection(id: string): Promise<JsonObject>;
  getToken(id: string): Promise<JsonObject>;
  refresh(id: string): Promise<JsonObject>;
  resolve(workspaceId: string, providerName: string): Promise<JsonObject>;
  listProviders(): Promise<JsonObject>;
  captureSchema(state: string): Promise<JsonObject>;
  captureCredential(state: string, credentials: Record<string, string>): Promise<JsonObject>;
}

const codeNames: Record<number, string> = Object.fromEntries(
  Object.entries(Code).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k.replace(/[A-Z]/g, (c, i) => (i === 0 ? c : `_${c}`)).toLowerCase()]),
);

/** REST with plain fetch, as curl would. */
export function restClient(baseUrl: string, key?: string): GatewayTestClient {
  async function call(method: string, path: string, body?: unknown): Promise<JsonObject> {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...(key === undefined ? {} : { authorization: `Bearer ${key}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as JsonObject;
    if (!res.ok) {
      // Connect's error JSON: the details decode as they do for Connect clients.
      const error = errorFromJson(json, undefined, new ConnectError("not an error body"));
      throw new GatewayCallError(String(json.code), detailsOf(error), String(json.message), res.status);
    }
    return json;
  }
  return {
    protocol: "REST",
    requestConnection: (b) => call("POST", "/v1/request-connection", b),
    checkConnection: (id) => call("GET", `/v1/check-connection/${encodeURIComponent(id)}`),
    getToken: (id) => call("GET", `/v1/token/${encodeURIComponent(id)}`),
    refresh: (id) => call("POST", `/v1/refresh/${encodeURIComponent(id)}`),
    resolve: (ws, p) => call("GET", `/v1/resolve?workspace_id=${encodeURIComponent(ws)}&provider_name=${encodeURIComponent(p)}`),
    listProviders: () => call("GET", "/v1/providers"),
    captureSchema: (state) => call("GET", `/v1/capture-schema?state=${encodeURIComponent(state)}`),
    captureCredential: (state, credentials) => call("POST", "/v1/capture-credential", { state, credentials }),
  };
}

/** connect-es over a transport (Connect JSON, or gRPC-Web). */
function connectEsClient(protocol: string, transport: Transport, key?: string): GatewayTestClient {
  const client = createClient(GatewayService, transport);
  const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
  async function call<T>(schema: DescMessage, run: () => Promise<T>): Promise<JsonObject> {
    try {
      return toJson(schema, (await run()) as never, { useProtoFieldName: true, alwaysEmitImplicit: true }) as JsonObject;
    } catch (error) {
      const e = ConnectError.from(error);
      throw new GatewayCallError(codeNames[e.code]!, detailsOf(e), e.rawMessage);
    }
  }
  const credential = async (run: () => Promise<{ credential?: unknown }>) => call(CredentialSchema, async () => (await run()).credential);
  return {
    protocol,
    requestConnection: (b) => call(RequestConnectionResponseSchema, () => client.requestConnection(fromJson(RequestConnectionRequestSchema, b as JsonObject), { headers })),
    checkConnection: (connectionId) => call(CheckConnectionResponseSchema, () => client.checkConnection({ connectionId }, { headers })),
    getToken: (connectionId) => credential(() => client.getToken({ connectionId }, { headers })),
    refresh: (connectionId) => credential(() => client.refreshToken({ connectionId }, { headers })),
    resolve: (workspaceId, providerName) => credential(() => client.resolveToken({ workspaceId, providerName }, { headers })),
    listProviders: () => call(ListProvidersResponseSchema, () => client.listProviders({}, { headers })),
    captureSchema: (state) => call(GetCaptureSchemaResponseSchema, () => client.getCaptureSchema({ state }, { headers })),
    captureCredential: (state, credentials) => call(CaptureCredentialResponseSchema, () => client.captureCredential({ state, credentials }, { headers })),
  };
}

/** Connect protocol, JSON encoding, HTTP/1.1. */
export function connectJsonClient(baseUrl: string, key?: string): GatewayTestClient {
  return connectEsClient("Connect JSON", createConnectTransport({ baseUrl, httpVersion: "1.1" }), key);
}

/** gRPC-Web, HTTP/1.1, as a browser would. */
export function grpcWebClient(baseUrl: string, key?: string): GatewayTestClient {
  return connectEsClient("gRPC-Web", createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }), key);
}

/** gRPC with @grpc/grpc-js loading the .proto files (not connect-es). */
export function grpcClient(baseUrl: string, key?: string): GatewayTestClient & { close(): void } {
  const c = grpcJsClient(baseUrl, "nexus/gateway/v1/gateway_service.proto", "nexus.gateway.v1.GatewayService");
  const md: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
  async function call(method: string, req: object): Promise<JsonObject> {
    try {
      return (await c[method]!(req, md)) as JsonObject;
    } catch (error) {
      const e = error as { code: number; details: string; metadata: { get(k: string): unknown[] } };
      // The reason travels as google.rpc.Status in grpc-status-details-bin, as any gRPC stack sends it.
      const bin = e.metadata?.get("grpc-status-details-bin")?.[0] as Uint8Array | undefined;
      const status = bin === undefined ? undefined : fromBinary(StatusSchema, bin);
      const findDetails = ((schema: DescMessage) => (status?.details ?? []).flatMap((any) => anyUnpack(any, schema) ?? [])) as ConnectError["findDetails"];
      // grpc-js hands over grpc-message as sent, percent-encoded (gRPC's HTTP/2 spec).
      throw new GatewayCallError(codeNames[e.code]!, detailsOf({ findDetails }), decodeURIComponent(e.details));
    }
  }
  const credential = async (method: string, req: object) => ((await call(method, req)).credential as JsonObject | undefined) ?? {};
  return {
    protocol: "gRPC",
    requestConnection: (b) => call("RequestConnection", b),
    checkConnection: (connection_id) => call("CheckConnection", { connection_id }),
    getToken: (connection_id) => credential("GetToken", { connection_id }),
    refresh: (connection_id) => credential("RefreshToken", { connection_id }),
    resolve: (workspace_id, provider_name) => credential("ResolveToken", { workspace_id, provider_name }),
    listProviders: () => call("ListProviders", {}),
    captureSchema: async (state) => {
      const r = await call("GetCaptureSchema", { state });
      return { ...r, schema: structToJson(r.schema) };
    },
    captureCredential: (state, credentials) => call("CaptureCredential", { state, credentials }),
    close: () => c.close(),
  };
}

/** grpc-js gives google.protobuf.Struct in its wire form ({fields: {k: {stringValue}}}); this makes it JSON. */
function structToJson(struct: unknown): JsonObject {
  const fields = (struct as { fields?: Record<string, unknown> } | undefined)?.fields ?? {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueToJson(v)]));
}

function valueToJson(v: unknown): JsonValue {
  const value = v as { kind?: string } & Record<string, unknown>;
  switch (value.kind) {
    case "structValue": return structToJson(value.structValue);
    case "listValue": return ((value.listValue as { values?: unknown[] }).values ?? []).map(valueToJson);
    case "stringValue": return value.stringValue as string;
    case "numberValue": return value.numberValue as number;
    case "boolValue": return value.boolValue as boolean;
    default: return null;
  }
}
