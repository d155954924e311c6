import { base64Decode } from "@bufbuild/protobuf/wire";
import { Code, type ConnectError } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { reasonOf, withReason } from "../connect-errors.ts";
import { connectErrorResponse, once } from "./error-response.ts";

/**
 * Wraps a Connect handler so that the errors connect-es raises itself, while
 * reading and parsing a request (before any interceptor can see it), carry a
 * Nexus reason like every other error, on Connect, gRPC and gRPC-Web alike:
 *
 * - a body past `readMaxBytes` (or a compressed one that inflates past it) is
 *   `payload_too_large`: RESOURCE_EXHAUSTED, and HTTP 413 over Connect;
 * - a binary message protobuf cannot parse (truncated, bad wire type, groups
 *   nested past the recursion limit) is `invalid_argument`, where connect-es
 *   says INTERNAL (HTTP 500), which would blame the server for the caller's bytes;
 * - a Connect GET whose `message` is not base64 is `invalid_argument` (connect-es
 *   lets the decoder's exception become an INTERNAL "internal error");
 * - any other INVALID_ARGUMENT of connect-es (bad JSON) gets the reason too.
 *
 * Errors that already carry a Nexus reason pass unchanged.
 */
export function addProtocolErrorReasons(handler: UniversalHandler): UniversalHandler {
  async function handle(request: UniversalServerRequest): Promise<UniversalServerResponse> {
    const refused = badGetMessage(request);
    if (refused !== undefined) return connectErrorResponse(refused);
    const response = await handler(request);
    const contentType = response.header?.get("content-type") ?? "";
    if (contentType.startsWith("application/grpc-web")) return fixGrpcWeb(response, request.httpVersion);
    if (contentType.startsWith("application/grpc")) return fixGrpc(response);
    if (response.status !== 200 && contentType.startsWith("application/json")) return fixConnect(response);
    return response;
  }
  return Object.assign(handle, handler);
}

/** The Nexus version of an error connect-es raised, or undefined to keep it. */
export function reasonedProtocolError(error: ConnectError): ConnectError | undefined {
  if (reasonOf(error) !== undefined) return undefined;
  const message = error.rawMessage;
  switch (error.code) {
    case Code.ResourceExhausted:
      // connect-es raises it only for readMaxBytes (writeMaxBytes is left unlimited).
      return withReason("payload_too_large", `the request is too large (${message}); send less, retrying cannot help`, {});
    case Code.Internal:
      if (message.startsWith("parse binary:") || message.startsWith("received compressed envelope")) {
        return withReason("invalid_argument", `the request message is not valid protobuf (${message})`, {});
      }
      return undefined;
    case Code.InvalidArgument:
      return withReason("invalid_argument", message, {});
    default:
      return undefined;
  }
}

function badGetMessage(request: UniversalServerRequest): ConnectError | undefined {
  if (request.method !== "GET") return undefined;
  const query = new URL(request.url).searchParams;
  if (query.get("base64") !== "1") return undefined;
  try {
    base64Decode(query.get("message") ?? "");
    return undefined;
  } catch {
    return withReason("invalid_argument", "the message query parameter is not valid base64", { field: "message" });
  }
}

async function readAll(body: UniversalServerResponse["body"]): Promise<Uint8Array> {
  if (body === undefined) return new Uint8Array(0);
  if (body instanceof Uint8Array) return body;
  const chunks: Uint8Array[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(chunk);
  return concat(chunks);
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return all;
}

/** Connect unary: the error is the JSON body, and the HTTP status follows the reason. */
async function fixConnect(response: UniversalServerResponse): Promise<UniversalServerResponse> {
  const bytes = await readAll(response.body);
  let fixed: ConnectError | undefined;
  try {
    fixed = reasonedProtocolError(errorFromJsonBytes(bytes, undefined, withReason("internal", "unreadable error", {})));
  } catch {
    fixed = undefined;
  }
  if (fixed === undefined) return { ...response, body: once(bytes) };
  const header = new Headers(response.header);
  header.delete("content-length");
  return connectErrorResponse(fixed, { header });
}

/** Rewrites a gRPC status held in `trailer`, in place. */
function fixTrailer(trailer: Headers): void {
  const error = findTrailerError(trailer);
  const fixed = error === undefined ? undefined : reasonedProtocolError(error);
  if (fixed === undefined) return;
  for (const name of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) trailer.delete(name);
  setTrailerStatus(trailer, fixed);
}

/** gRPC: the status travels in HTTP trailers, written once the body is done. */
function fixGrpc(response: UniversalServerResponse): UniversalServerResponse {
  const trailer = response.trailer;
  const body = response.body as AsyncIterable<Uint8Array> | undefined;
  if (trailer === undefined || body === undefined) return response;
  async function* fixedBody(): AsyncIterable<Uint8Array> {
    yield* body!;
    fixTrailer(trailer!);
  }
  return { ...response, body: fixedBody() };
}

/**
 * gRPC-Web: the status travels in a trailer frame at the end of the body. A
 * request that could not be read or parsed fails before any message, so its
 * answer is that one frame; an answer that starts with a message streams
 * through untouched.
 */
async function fixGrpcWeb(response: UniversalServerResponse, httpVersion: string): Promise<UniversalServerResponse> {
  const body = response.body as AsyncIterable<Uint8Array> | undefined;
  if (body === undefined) return response;
  const it = body[Symbol.asyncIterator]();
  const first = await it.next();
  const rest = { [Symbol.asyncIterator]: () => it };
  if (first.done) return { ...response, body: (async function* () {})() };
  if (first.value[0] !== trailerFlag) return { ...response, body: (async function* () { yield first.value; yield* rest; })() };
  const frame = concat([first.value, await readAll(rest)]);
  const length = new DataView(frame.buffer, frame.byteOffset + 1, 4).getUint32(0);
  const trailer = trailerParse(frame.subarray(5, 5 + length));
  fixTrailer(trailer);
  const data = trailerSerialize(trailer);
  const fixed = new Uint8Array(5 + data.byteLength);
  fixed[0] = trailerFlag;
  new DataView(fixed.buffer).setUint32(1, data.byteLength);
  fixed.set(data, 5);
  const header = new Headers(response.header);
  header.delete("content-length");
  // As for a 413 (see http-app.ts): the unread rest of a body too large must not become the next request.
  if (trailer.get("grpc-status") === String(Code.ResourceExhausted) && httpVersion.startsWith("1")) header.set("connection", "close");
  return { ...response, header, body: (async function* () { yield fixed; })() };
}
