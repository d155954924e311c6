import { fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { once } from "./error-response.ts";
import { reasonedProtocolError } from "./protocol-error-reasons.ts";
import type { UnaryDispatch, UnaryImplSpec } from "./unary-dispatch.ts";

/** Answers the plain gRPC unary calls it can; undefined (before reading anything) for the others. */
export type GrpcUnary = (request: UniversalServerRequest, spec: UnaryImplSpec) => Promise<UniversalServerResponse> | undefined;

const grpcProto = /^application\/grpc(?:\+proto)?$/i;
const contentType = "application/grpc+proto";

/**
 * gRPC's common case, without connect-es's handler: a unary call over HTTP/2
 * with one uncompressed binary message. The envelope is read and parsed
 * once, the implementation runs through the same interceptors
 * (unary-dispatch.ts) with the caller's `grpc-timeout`, and the answer goes
 * out as headers, one message and the status trailers. Anything else (JSON,
 * compression, HTTP/1.1) is left to connect-es. A failure is the same status, message
 * and details (`grpc-status-details-bin`) connect-es would send.
 */
export function createGrpcUnary(options: {
  readonly dispatch: UnaryDispatch;
  readonly readMaxBytes: number;
  readonly recursionLimit: number;
  /** Largest deadline a caller may ask for, in ms. */
  readonly maxTimeoutMs: number;
}): GrpcUnary {
  const binaryOptions = { recursionLimit: options.recursionLimit };

  return (request, spec) => {
    if (request.method !== "POST" || !request.httpVersion.startsWith("2")) return undefined;
    const header = request.header;
    if (!grpcProto.test(header.get("content-type") ?? "")) return undefined;
    const encoding = header.get("grpc-encoding");
    if (encoding !== null && encoding !== "identity") return undefined;
    const body = request.body;
    if (typeof body !== "object" || body === null || !(Symbol.asyncIterator in body)) return undefined;
    return answer(request, spec, body as AsyncIterable<Uint8Array>);
  };

  async function answer(request: UniversalServerRequest, spec: UnaryImplSpec, body: AsyncIterable<Uint8Array>): Promise<UniversalServerResponse> {
    const method = spec.method;
    let message: Message;
    let timeoutMs: number | undefined;
    try {
      timeoutMs = parseTimeout(request.header.get("grpc-timeout"), options.maxTimeoutMs);
      message = fromBinary(method.input, await readEnvelope(body, options.readMaxBytes), binaryOptions);
    } catch (error) {
      const e = error instanceof ConnectError ? error : new ConnectError(`parse binary: ${error instanceof Error ? error.message : String(error)}`, Code.Internal);
      return failure(e, new Headers(), new Headers());
    }
    const result = await options.dispatch({
      spec, message, header: request.header, url: request.url, signal: request.signal, contextValues: request.contextValues ?? createContextValues(),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    if (result.kind === "error") return failure(result.error, result.header, result.trailer);
    let data: Uint8Array;
    try {
      data = toBinary(method.output, result.message);
    } catch (error) {
      return failure(new ConnectError("internal error", Code.Internal, undefined, undefined, error), result.header, result.trailer);
    }
    const frame = new Uint8Array(5 + data.byteLength);
    new DataView(frame.buffer).setUint32(1, data.byteLength);
    frame.set(data, 5);
    result.header.set("content-type", contentType);
    result.trailer.set("grpc-status", "0");
    return { status: 200, header: result.header, trailer: result.trailer, body: once(frame) };
  }
}

const timeoutUnits: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** A `grpc-timeout` value in ms; undefined when absent; ConnectErrors as connect-es raises them. */
function parseTimeout(value: string | null, maxTimeoutMs: number): number | undefined {
  if (value === null) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (m === null) throw new ConnectError(`protocol error: invalid grpc timeout value: ${value}`, Code.InvalidArgument);
  const ms = timeoutUnits[m[2]!]! * Number.parseInt(m[1]!, 10);
  if (ms > maxTimeoutMs) throw new ConnectError(`timeout ${ms}ms must be <= ${maxTimeoutMs}`, Code.InvalidArgument);
  return ms;
}

/**
 * The one message of a unary request, unwrapped from its envelope, read no
 * further than the envelope's length allows; ConnectErrors as connect-es
 * raises them.
 */
async function readEnvelope(body: AsyncIterable<Uint8Array>, readMaxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let length: number | undefined;
  for await (const chunk of body) {
    chunks.push(chunk);
    total += chunk.byteLength;
    if (length === undefined && total >= 5) {
      const head = concat(chunks, total).subarray(0, 5);
      if ((head[0]! & 0b1) === 0b1) throw new ConnectError("received compressed envelope, but do not know how to decompress", Code.Internal);
      length = new DataView(head.buffer, head.byteOffset, 5).getUint32(1);
      if (length > readMaxBytes) throw new ConnectError(`message size ${length} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
    }
    // Leaving the loop returns the iterator: nothing past a second envelope's start is pulled.
    if (length !== undefined && total > 5 + length) throw new ConnectError("protocol error: received extra input message for unary method", Code.Unimplemented);
  }
  if (total === 0) throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
  if (length === undefined || total < 5 + length) throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  return concat(chunks, total).subarray(5);
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return all;
}

/** A failure as gRPC sends it: the handler's headers, then trailers with the status, message and details. */
function failure(error: ConnectError, header: Headers, trailer: Headers): UniversalServerResponse {
  const reasoned = reasonedProtocolError(error) ?? error;
  header.set("content-type", contentType);
  setTrailerStatus(trailer, reasoned);
  return { status: 200, header, trailer, body: once(new Uint8Array(0)) };
}
