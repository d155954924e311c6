import { fromBinary, fromJsonString, type Message, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { readAllBytes, type UniversalServerRequest, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { connectErrorResponse, once } from "./error-response.ts";
import { reasonedProtocolError } from "./protocol-error-reasons.ts";
import type { UnaryDispatch, UnaryImplSpec } from "./unary-dispatch.ts";

/** Options of {@linkcode createConnectUnary}. */
export interface ConnectUnaryOptions {
  /** Runs the implementation through the interceptors every protocol runs. */
  readonly dispatch: UnaryDispatch;
  /** Largest request body, in bytes. */
  readonly readMaxBytes: number;
  /** Deepest message nesting accepted. */
  readonly recursionLimit: number;
  /** Largest deadline a caller may ask for, in ms. */
  readonly maxTimeoutMs: number;
}

/** Answers the plain Connect unary calls it can; undefined (before reading anything) for the others. */
export type ConnectUnary = (request: UniversalServerRequest, spec: UnaryImplSpec) => Promise<UniversalServerResponse> | undefined;

const json = /^application\/json(?:; ?charset=utf-?8)?$/i;
const proto = /^application\/proto$/i;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The Connect protocol's common case, without connect-es's handler: a unary
 * POST with a JSON or binary body, uncompressed, with no deadline. The body
 * is read and parsed once, the implementation runs through the same
 * interceptors (unary-dispatch.ts), with the caller's `connect-timeout-ms`,
 * and the answer is serialized and written in one piece. connect-es's
 * handler spends most of its per-call work on what this case does not need
 * (see BENCHMARKS.md): a linked abort controller aborted with an AbortError
 * at the end of every call, async generators around a one-chunk body, header
 * conversions. Anything else (a GET, compression, another content type or
 * protocol version) is left to connect-es. Errors are Connect's error JSON
 * with the same codes, reasons and HTTP statuses either way.
 */
export function createConnectUnary(options: ConnectUnaryOptions): ConnectUnary {
  const jsonOptions = { ignoreUnknownFields: false, recursionLimit: options.recursionLimit };
  const binaryOptions = { recursionLimit: options.recursionLimit };

  return (request, spec) => {
    if (request.method !== "POST") return undefined;
    const header = request.header;
    const contentType = header.get("content-type") ?? "";
    const binary = proto.test(contentType);
    if (!binary && !json.test(contentType)) return undefined;
    const encoding = header.get("content-encoding");
    if (encoding !== null && encoding !== "identity") return undefined;
    const version = header.get("connect-protocol-version");
    if (version !== null && version !== "1") return undefined;
    const body = request.body;
    if (typeof body !== "object" || body === null || !(Symbol.asyncIterator in body)) return undefined;
    return answer(request, spec, binary, body as AsyncIterable<Uint8Array>);
  };

  async function answer(request: UniversalServerRequest, spec: UnaryImplSpec, binary: boolean, body: AsyncIterable<Uint8Array>): Promise<UniversalServerResponse> {
    const method = spec.method;
    let message: Message;
    let timeoutMs: number | undefined;
    try {
      timeoutMs = parseTimeout(request.header.get("connect-timeout-ms"), options.maxTimeoutMs);
      const bytes = await readAllBytes(body, options.readMaxBytes, request.header.get("content-length"));
      message = binary ? parseBinary(method.input, bytes) : parseJson(method.input, bytes);
    } catch (error) {
      return failure(ConnectError.from(error, Code.InvalidArgument), new Headers(), new Headers());
    }
    const result = await options.dispatch({
      spec, message, header: request.header, url: request.url, signal: request.signal, contextValues: request.contextValues ?? createContextValues(),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    if (result.kind === "error") return failure(result.error, result.header, result.trailer);
    const responseHeader = result.header;
    let bytes: Uint8Array;
    try {
      bytes = binary ? toBinary(method.output, result.message) : encoder.encode(toJsonString(method.output, result.message));
    } catch (error) {
      return failure(new ConnectError("internal error", Code.Internal, undefined, undefined, error), responseHeader, result.trailer);
    }
    responseHeader.set("content-type", binary ? "application/proto" : "application/json");
    // Connect unary carries trailers as headers, prefixed.
    result.trailer.forEach((value, name) => responseHeader.set(`trailer-${name}`, value));
    return { status: 200, header: responseHeader, body: once(bytes) };
  }

  function parseJson(desc: UnaryImplSpec["method"]["input"], bytes: Uint8Array): Message {
    try {
      return fromJsonString(desc, decoder.decode(bytes), jsonOptions);
    } catch (error) {
      throw ConnectError.from(error, Code.InvalidArgument);
    }
  }

  function parseBinary(desc: UnaryImplSpec["method"]["input"], bytes: Uint8Array): Message {
    try {
      return fromBinary(desc, bytes, binaryOptions);
    } catch (error) {
      throw new ConnectError(`parse binary: ${error instanceof Error ? error.message : String(error)}`, Code.Internal);
    }
  }
}

/** A `connect-timeout-ms` value in ms; undefined when absent; ConnectErrors as connect-es raises them. */
function parseTimeout(value: string | null, maxTimeoutMs: number): number | undefined {
  if (value === null) return undefined;
  if (!/^\d{1,10}$/.test(value)) throw new ConnectError(`protocol error: invalid connect timeout value: ${value}`, Code.InvalidArgument);
  const ms = Number.parseInt(value, 10);
  if (ms > maxTimeoutMs) throw new ConnectError(`timeout ${ms}ms must be <= ${maxTimeoutMs}`, Code.InvalidArgument);
  return ms;
}

/** An error as a Connect unary answer: the handler's headers, trailers prefixed, the error's metadata; its reason's status. */
function failure(error: ConnectError, header: Headers, trailer: Headers): UniversalServerResponse {
  const reasoned = reasonedProtocolError(error) ?? error;
  trailer.forEach((value, name) => header.set(`trailer-${name}`, value));
  reasoned.metadata.forEach((value, name) => header.set(name, value));
  return connectErrorResponse(reasoned, { header });
}
