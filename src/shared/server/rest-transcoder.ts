import { create, type DescField, type DescMessage, getOption, hasOption, type JsonObject, type JsonValue, type Message, toJson } from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { ConnectError, createContextValues } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { http } from "../../../gen/google/api/annotations_pb.ts";
import type { HttpRule } from "../../../gen/google/api/http_pb.ts";
import type { HttpBody } from "../../../gen/google/api/httpbody_pb.ts";
import { withReason } from "../connect-errors.ts";
import { connectErrorResponse, once } from "./error-response.ts";
import { oauthErrorResponse } from "./oauth-error-response.ts";
import { stripInputOnlyFields } from "./input-only-fields.ts";
import { createPathTemplate, type PathTemplate } from "./path-template.ts";
import { createRestRequestBuilder, type RestBody, type RestRequestBuilder } from "./rest-request-builder.ts";
import type { UnaryDispatch, UnaryImplSpec } from "./unary-dispatch.ts";

/** Options of {@linkcode createRestTranscoder}. */
export interface RestTranscoderOptions {
  /** Runs the implementation through the interceptors every protocol runs. */
  dispatch: UnaryDispatch;
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
  readonly spec: UnaryImplSpec;
  /** The method's RPC path, `/pkg.Service/Method`. */
  readonly requestPath: string;
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
  /** Handles a request that matched kind "route"; `url` is its URL if the caller has parsed it already. */
  handle(request: UniversalServerRequest, match: Extract<RestMatch, { kind: "route" }>, url?: URL): Promise<UniversalServerResponse>;
  readonly routes: readonly RestRouteInfo[];
}

// What only describes the outer body, which the handler never sees (it gets the bound message).
const droppedRequestHeaders = new Set(["content-type", "content-length", "content-encoding", "transfer-encoding", "accept-encoding"]);
const droppedResponseHeaders = new Set(["content-type", "content-length", "content-encoding", "x-http-code"]);

/**
 * Builds REST routes for every unary implementation whose method carries a
 * google.api.http option, including its additional bindings. A REST call is
 * bound once to the method's request message and runs the very
 * implementation a Connect call would, through the same interceptors, in
 * process and without encoding the message to bytes and back; the output
 * message is written as JSON directly. Throws at startup on a bad annotation.
 */
export function createRestTranscoder(implementations: Iterable<UnaryImplSpec>, options: RestTranscoderOptions): RestTranscoder {
  const routes: RestRoute[] = [];
  for (const spec of implementations) {
    const method = spec.method;
    if (!hasOption(method, http)) continue;
    const rule = getOption(method, http);
    for (const binding of [rule, ...rule.additionalBindings]) {
      const route = compileRoute(spec, binding, options.recursionLimit);
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

  async function handle(request: UniversalServerRequest, matched: Extract<RestMatch, { kind: "route" }>, url = new URL(request.url)): Promise<UniversalServerResponse> {
    const { route } = matched;
    const outcome = await run(request, matched, url);
    if (outcome.kind === "ok") return render(route, outcome.message, outcome.header);
    if (oauthMethods.has(`${route.info.service}/${route.info.method}`)) return oauthErrorResponse(outcome.error, request.header.get("authorization"));
    return connectErrorResponse(outcome.error, { header: passedHeaders(outcome.header), ...(outcome.status === undefined ? {} : { status: outcome.status }) });
  }

  async function run(request: UniversalServerRequest, matched: Extract<RestMatch, { kind: "route" }>, url: URL): Promise<Outcome> {
    const { route, captures } = matched;
    let input: Message;
    try {
      const body = await readBody(request, route.builder.takesBody, options.readMaxBytes);
      if (body.kind === "unsupported") return { kind: "error", error: withReason("invalid_argument", body.message, {}), header: new Headers(), status: 415 };
      input = route.builder.build(captures, url.searchParams, body.kind === "none" ? undefined : body);
    } catch (error) {
      if (error instanceof ConnectError) return { kind: "error", error, header: new Headers() };
      throw error;
    }
    // The headers a Connect call of the method would carry, so interceptors see no difference. Edited in
    // place: the outer request is this call's alone, and copying every header costs on each read.
    const header = request.header;
    const dropped: string[] = [];
    for (const name of header.keys()) if (droppedRequestHeaders.has(name) || isProtocolHeader(name)) dropped.push(name);
    for (const name of dropped) header.delete(name);
    header.set("content-type", "application/proto");
    header.set("connect-protocol-version", "1");
    const result = await options.dispatch({
      spec: route.spec, message: input, header, url: url.origin + route.requestPath, signal: request.signal,
      contextValues: request.contextValues ?? createContextValues(),
    });
    // REST has no trailers: what a handler set as one is a header here.
    result.trailer.forEach((value, name) => result.header.set(name, value));
    return result;
  }

  return { match, handle, routes: routes.map((r) => r.info) };
}

/** What running a route came to: an output message, or an error with the status it is answered with. */
type Outcome =
  | { readonly kind: "ok"; readonly message: Message; readonly header: Headers }
  | { readonly kind: "error"; readonly error: ConnectError; readonly header: Headers; readonly status?: number };

function compileRoute(spec: UnaryImplSpec, rule: HttpRule, recursionLimit: number | undefined): RestRoute | undefined {
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
  const method = spec.method;
  const template = createPathTemplate(path);
  const builder = createRestRequestBuilder({ input: method.input, template, body: rule.body, httpMethod, ...(recursionLimit === undefined ? {} : { recursionLimit }) });
  let responseField: DescField | undefined;
  if (rule.responseBody !== "") {
    responseField = method.output.fields.find((f) => f.name === rule.responseBody);
    if (responseField === undefined) throw new Error(`${method.toString()}: response_body names no field ${rule.responseBody}`);
  }
  const info = { httpMethod, pathTemplate: path, service: method.parent.typeName, method: method.name, body: rule.body, responseBody: rule.responseBody };
  return { info, template, spec, requestPath: `/${method.parent.typeName}/${method.name}`, builder, responseField };
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

/** The response headers a handler set that REST callers see: none of the protocol's own. */
function passedHeaders(from: Headers): Headers {
  const header = new Headers();
  for (const [name, value] of from) {
    if (!droppedResponseHeaders.has(name) && !isProtocolHeader(name)) header.append(name, value);
  }
  return header;
}

function render(route: RestRoute, message: Message, responseHeader: Headers): UniversalServerResponse {
  const header = passedHeaders(responseHeader);
  const code = responseHeader.get("x-http-code");
  const status = code != null && /^[1-5]\d\d$/.test(code) ? Number(code) : 200;
  const output = route.spec.method.output;
  let schema: DescMessage = output;
  let value: Message = message;
  const field = route.responseField;
  if (field !== undefined) {
    if (field.fieldKind !== "message") {
      const json = toJson(output, message, { useProtoFieldName: true, alwaysEmitImplicit: true }) as JsonObject;
      return answer(status, "application/json", JSON.stringify(json[field.name] ?? null), header);
    }
    const r = reflect(output, message);
    schema = field.message;
    value = r.isSet(field) ? (r.get(field) as ReflectMessage).message : create(field.message);
  }
  if (schema.typeName === "google.api.HttpBody") {
    const page = value as HttpBody;
    return answer(status, page.contentType === "" ? "application/octet-stream" : page.contentType, page.data, header);
  }
  // A frozen message cannot change, so its JSON is made once (a cached answer's, read over and over).
  const frozen = Object.isFrozen(value);
  const known = frozen ? renderedJson.get(value) : undefined;
  if (known !== undefined) return answer(status, "application/json", known, header);
  // REST callers get a stable shape: empty lists and zero values are written out, not omitted.
  const json = stripInputOnlyFields(schema, toJson(schema, value, { useProtoFieldName: true, alwaysEmitImplicit: true }));
  const bytes = encoder.encode(JSON.stringify(json));
  if (frozen) renderedJson.set(value, bytes);
  return answer(status, "application/json", bytes, header);
}

/** The JSON of frozen output messages, rendered once each (see render). */
const renderedJson = new WeakMap<object, Uint8Array>();

/** A response with `header` (ours to change) as its headers. */
function answer(status: number, contentType: string, body: string | Uint8Array, header: Headers): UniversalServerResponse {
  header.set("content-type", contentType);
  return { status, header, body: once(typeof body === "string" ? encoder.encode(body) : body) };
}

const encoder = new TextEncoder();



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

