import { create, type DescField, type DescMessage, fromBinary, getOption, hasOption, type JsonObject, type JsonValue, type Message, toBinary, toJson } from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { ConnectError } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { http } from "../../../gen/google/api/annotations_pb.ts";
import type { HttpRule } from "../../../gen/google/api/http_pb.ts";
import type { HttpBody } from "../../../gen/google/api/httpbody_pb.ts";
import { withReason } from "../connect-errors.ts";
import { bytesResponse, connectErrorResponse, once } from "./error-response.ts";
import { connectErrorOf, oauthErrorResponse } from "./oauth-error-response.ts";
import { stripInputOnlyFields } from "./input-only-fields.ts";
import { createPathTemplate, type PathTemplate } from "./path-template.ts";
import { createRestRequestBuilder, type RestBody, type RestRequestBuilder } from "./rest-request-builder.ts";

/** Options of {@linkcode createRestTranscoder}. */
export interface RestTranscoderOptions {
  /** Largest request body read, in bytes; reading stops as soon as it is passed. */
  readMaxBytes: number;
  /** Deepest message nesting accepted. @default 100 (protobuf-es's own) */
  recursionLimit?: number;
  /**
   * Methods (`pkg.Service/Method`) whose REST errors are RFC 6749 token
   * endpoint errors (`{"error","error_description"}`) instead of Connect's
   * error JSON: token exchange, which OAuth libraries call.
   */
  oauthErrorMethods?: readonly string[];
}

/** A REST route as the annotations declare it, for docs and listings. */
export interface RestRouteInfo {
  /** GET, PUT, POST, DELETE, PATCH, or a custom rule's kind. */
  httpMethod: string;
  /** The path template as written, for example `/v1/token/{connection_id}`. */
  pathTemplate: string;
  /** The service's fully qualified name. */
  service: string;
  /** The method's name. */
  method: string;
  /** The rule's `body`: empty, `*` or a field name. */
  body: string;
  /** The rule's `response_body`: empty or a field name. */
  responseBody: string;
}

/** One compiled route. Opaque outside this module. */
export interface RestRoute {
  readonly info: RestRouteInfo;
  readonly template: PathTemplate;
  readonly handler: UniversalHandler;
  readonly builder: RestRequestBuilder;
  /** The output field `response_body` renders alone, if any. */
  readonly responseField: DescField | undefined;
}

/** What {@linkcode RestTranscoder.match} found. */
export type RestMatch =
  | { kind: "route"; route: RestRoute; /** Raw (percent-encoded) values of the template's variables. */ captures: string[] }
  | { kind: "method_not_allowed"; allowed: string[] };

/** REST over the Connect handlers, as the google.api.http annotations describe it. */
export interface RestTranscoder {
  /** undefined when no route's path template matches the path. */
  match(httpMethod: string, pathname: string): RestMatch | undefined;
  /** Handles a request that matched kind "route". */
  handle(request: UniversalServerRequest, match: Extract<RestMatch, { kind: "route" }>): Promise<UniversalServerResponse>;
  readonly routes: readonly RestRouteInfo[];
}

// Framing of the inner call, and what only describes the outer body; compression
// is left to the outer server, as the inner response must come back decodable.
const droppedRequestHeaders = new Set(["content-type", "content-length", "content-encoding", "transfer-encoding", "accept-encoding"]);
const droppedResponseHeaders = new Set(["content-type", "content-length", "content-encoding", "x-http-code"]);

/**
 * Builds REST routes for every unary handler whose method carries a
 * google.api.http option, including its additional bindings. A REST call runs
 * the very handler a Connect call would (binary Connect protocol, in process),
 * so interceptors see no difference. Throws at startup on a bad annotation.
 */
export function createRestTranscoder(handlers: readonly UniversalHandler[], options: RestTranscoderOptions): RestTranscoder {
  const routes: RestRoute[] = [];
  for (const handler of handlers) {
    const method = handler.method;
    if (method.methodKind !== "unary" || !hasOption(method, http)) continue;
    const rule = getOption(method, http);
    for (const binding of [rule, ...rule.additionalBindings]) {
      const route = compileRoute(handler, binding, options.recursionLimit);
      if (route !== undefined) routes.push(route);
    }
  }
  // Stable: among equally literal templates, declaration order decides.
  routes.sort((a, b) => b.template.literalCount - a.template.literalCount);
  const wildcardFirst = routes.filter((r) => r.template.firstLiteral === undefined);
  const byFirst = new Map<string, RestRoute[]>();
  for (const key of new Set(routes.map((r) => r.template.firstLiteral))) {
    if (key !== undefined) byFirst.set(key, routes.filter((r) => r.template.firstLiteral === key || r.template.firstLiteral === undefined));
  }

  function match(httpMethod: string, pathname: string): RestMatch | undefined {
    const segments = pathname.split("/");
    let allowed: string[] | undefined;
    for (const route of byFirst.get(segments[1] ?? "") ?? wildcardFirst) {
      const captures = route.template.match(segments);
      if (captures === undefined) continue;
      if (route.info.httpMethod === httpMethod) return { kind: "route", route, captures };
      allowed ??= [];
      if (!allowed.includes(route.info.httpMethod)) allowed.push(route.info.httpMethod);
    }
    return allowed === undefined ? undefined : { kind: "method_not_allowed", allowed };
  }

  const oauthMethods = new Set(options.oauthErrorMethods ?? []);

  async function handle(request: UniversalServerRequest, matched: Extract<RestMatch, { kind: "route" }>): Promise<UniversalServerResponse> {
    if (!oauthMethods.has(`${matched.route.info.service}/${matched.route.info.method}`)) return handleRest(request, matched);
    const response = await handleRest(request, matched);
    return response.status === 200 || response.status === 201 ? response : oauthErrorResponse(await connectErrorOf(response), request.header.get("authorization"));
  }

  async function handleRest(request: UniversalServerRequest, matched: Extract<RestMatch, { kind: "route" }>): Promise<UniversalServerResponse> {
    const { route, captures } = matched;
    const url = new URL(request.url);
    let input: Message;
    try {
      const body = await readBody(request, route.builder.takesBody, options.readMaxBytes);
      if (body.kind === "unsupported") return connectErrorResponse(withReason("invalid_argument", body.message, {}), { status: 415 });
      input = route.builder.build(captures, url.searchParams, body.kind === "none" ? undefined : body);
    } catch (error) {
      if (error instanceof ConnectError) return connectErrorResponse(error);
      throw error;
    }
    const header = new Headers();
    for (const [name, value] of request.header) {
      if (!droppedRequestHeaders.has(name) && !isProtocolHeader(name)) header.append(name, value);
    }
    header.set("content-type", "application/proto");
    header.set("connect-protocol-version", "1");
    const response = await route.handler({
      httpVersion: request.httpVersion,
      url: url.origin + route.handler.requestPath,
      method: "POST",
      header,
      body: once(toBinary(route.handler.method.input, input)),
      signal: request.signal,
      ...(request.contextValues === undefined ? {} : { contextValues: request.contextValues }),
    });
    return render(route, response);
  }

  return { match, handle, routes: routes.map((r) => r.info) };
}

function compileRoute(handler: UniversalHandler, rule: HttpRule, recursionLimit: number | undefined): RestRoute | undefined {
  const pattern = rule.pattern;
  let httpMethod: string;
  let path: string;
  switch (pattern.case) {
    case undefined:
      return undefined;
    case "custom":
      httpMethod = pattern.value.kind;
      path = pattern.value.path;
      break;
    default:
      httpMethod = pattern.case.toUpperCase();
      path = pattern.value;
  }
  const method = handler.method;
  const template = createPathTemplate(path);
  const builder = createRestRequestBuilder({ input: method.input, template, body: rule.body, httpMethod, ...(recursionLimit === undefined ? {} : { recursionLimit }) });
  let responseField: DescField | undefined;
  if (rule.responseBody !== "") {
    responseField = method.output.fields.find((f) => f.name === rule.responseBody);
    if (responseField === undefined) throw new Error(`${method.toString()}: response_body names no field ${rule.responseBody}`);
  }
  const info = { httpMethod, pathTemplate: path, service: handler.service.typeName, method: method.name, body: rule.body, responseBody: rule.responseBody };
  return { info, template, handler, builder, responseField };
}

type ReadBody = RestBody | { readonly kind: "none" } | { readonly kind: "unsupported"; readonly message: string };

/** Reads and parses the body by its content type; throws ConnectErrors for bad input. */
async function readBody(request: UniversalServerRequest, takesBody: boolean, readMaxBytes: number): Promise<ReadBody> {
  let text: string;
  // In HTTP/1.1 a request with neither Content-Length nor Transfer-Encoding has no
  // body (RFC 9112 section 6.3), so a plain GET skips the cost of iterating an empty
  // stream. HTTP/2 frames bodies without either header, so it is always read.
  if (request.httpVersion.startsWith("1") && request.header.get("content-length") === null && request.header.get("transfer-encoding") === null && isAsyncIterable(request.body)) {
    return { kind: "none" };
  }
  if (isAsyncIterable(request.body)) {
    text = decodeUtf8(await readAll(request.body, readMaxBytes, request.header.get("content-length")));
  } else {
    // A server framework parsed a JSON body already.
    const value = request.body;
    if (value === null || (!takesBody && isEmptyObject(value))) return { kind: "none" };
    return takesBody ? { kind: "json", value } : noBody();
  }
  if (text.trim() === "") return { kind: "none" };
  if (!takesBody) return /^\s*\{\s*\}\s*$/.test(text) ? { kind: "none" } : noBody();
  const contentType = request.header.get("content-type");
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (mediaType === "" || mediaType === "application/json") {
    try {
      return { kind: "json", value: JSON.parse(text) as JsonValue };
    } catch (error) {
      throw withReason("invalid_argument", `request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, {});
    }
  }
  if (mediaType === "application/x-www-form-urlencoded") {
    if (text.trimStart().startsWith("{")) {
      // What `curl -d '{...}'` sends when -H is forgotten.
      return { kind: "unsupported", message: "the request body is JSON but its content type is application/x-www-form-urlencoded; send it with Content-Type: application/json" };
    }
    return { kind: "form", params: new URLSearchParams(text) };
  }
  return {
    kind: "unsupported",
    message: `content type ${JSON.stringify(contentType)} is not supported; send JSON with Content-Type: application/json (or a form with Content-Type: application/x-www-form-urlencoded)`,
  };
}

function noBody(): never {
  throw withReason("invalid_argument", "this route takes no request body", {});
}

async function readAll(body: AsyncIterable<Uint8Array>, limit: number, lengthHeader: string | null): Promise<Uint8Array> {
  const tooLarge = () => withReason("payload_too_large", `the request body is larger than the limit of ${limit} bytes`, {});
  if (lengthHeader !== null && Number(lengthHeader) > limit) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    // Leaving the loop returns the iterator, so no more of the body is pulled.
    if (total > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return concat(chunks, total);
}

async function render(route: RestRoute, response: UniversalServerResponse): Promise<UniversalServerResponse> {
  const header = new Headers();
  for (const [name, value] of response.header ?? []) {
    if (!droppedResponseHeaders.has(name) && !isProtocolHeader(name)) header.append(name, value);
  }
  const body: unknown = response.body;
  if (response.status !== 200) {
    const contentType = response.header?.get("content-type");
    if (contentType != null) header.set("content-type", contentType);
    return { status: response.status, header, body: body instanceof Uint8Array ? once(body) : response.body };
  }
  const code = response.header?.get("x-http-code");
  const status = code != null && /^[1-5]\d\d$/.test(code) ? Number(code) : 200;
  const bytes = body instanceof Uint8Array ? body : isAsyncIterable(body) ? await readAll(body, Number.MAX_SAFE_INTEGER, null) : new Uint8Array(0);
  const output = route.handler.method.output;
  const message = fromBinary(output, bytes);
  let schema: DescMessage = output;
  let value: Message = message;
  const field = route.responseField;
  if (field !== undefined) {
    if (field.fieldKind !== "message") {
      const json = toJson(output, message, { useProtoFieldName: true, alwaysEmitImplicit: true }) as JsonObject;
      return bytesResponse(status, "application/json", JSON.stringify(json[field.name] ?? null), header);
    }
    const r = reflect(output, message);
    schema = field.message;
    value = r.isSet(field) ? (r.get(field) as ReflectMessage).message : create(field.message);
  }
  if (schema.typeName === "google.api.HttpBody") {
    const page = value as HttpBody;
    return bytesResponse(status, page.contentType === "" ? "application/octet-stream" : page.contentType, page.data, header);
  }
  // REST callers get a stable shape: empty lists and zero values are written out, not omitted.
  const json = stripInputOnlyFields(schema, toJson(schema, value, { useProtoFieldName: true, alwaysEmitImplicit: true }));
  return bytesResponse(status, "application/json", JSON.stringify(json), header);
}



function isProtocolHeader(name: string): boolean {
  return name.startsWith("connect-") || name.startsWith("grpc-");
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}

function isEmptyObject(value: JsonValue): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw withReason("invalid_argument", "the request body is not valid UTF-8", {});
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const all = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return all;
}

