import { type Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { create, type DescMessage, type DescMethodUnary, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type Interceptor, type Transport, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { codeFromHttpStatus, errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";

/** Options of {@linkcode createBrokerTransport}. */
export interface BrokerTransportOptions {
  /** The Broker's origin (and optional path prefix). */
  baseUrl: URL;
  /** Kept-alive connection pool; its protocol must match baseUrl's. */
  agent: Agent;
  interceptors: readonly Interceptor[];
  /** Applied when the caller gives no deadline. */
  defaultTimeoutMs: number;
  /** Carries streaming calls (the token cache's change stream); without it they fail as unimplemented. */
  streams?: Transport;
}

type AnyUnaryFn = (req: UnaryRequest) => Promise<UnaryResponse>;

/**
 * A Transport for the Gateway's calls to the Broker: unary RPCs in the Connect
 * protocol with binary messages, one POST each over kept-alive HTTP/1.1.
 *
 * It exists for speed: connect-node's own HTTP/1.1 client spends about six
 * times the CPU of a plain node:http request on each call (async-iterable
 * pipelines, linked abort signals), and this hop runs on every token read
 * (BENCHMARKS.md). It speaks the same wire protocol, runs the same
 * interceptors, carries the deadline (`connect-timeout-ms`) and cancellation,
 * and turns Broker errors back into ConnectErrors with their details, so
 * handlers see no difference. The one streaming call on this hop (the token
 * cache's change stream, long-lived and rare) goes to `streams`.
 */
export function createBrokerTransport(options: BrokerTransportOptions): Transport {
  const send = options.baseUrl.protocol === "https:" ? httpsRequest : httpRequest;
  const prefix = options.baseUrl.href.replace(/\/$/, "");
  // Fixed for the transport's life, so no call parses a URL.
  const { origin, hostname, port } = options.baseUrl;
  const call: AnyUnaryFn = options.interceptors.reduceRight<AnyUnaryFn>(
    (next, interceptor) => interceptor(next as never) as unknown as AnyUnaryFn,
    (req) => post(req),
  );

  function post(req: UnaryRequest): Promise<UnaryResponse> {
    const body = toBinary(req.method.input, req.message);
    const header: Record<string, string | number> = { "content-type": "application/proto", "connect-protocol-version": "1", "content-length": body.byteLength };
    req.header.forEach((value, name) => void (header[name] = value));
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: ConnectError) => {
        if (settled) return;
        settled = true;
        cleanup();
        outgoing.destroy();
        reject(error);
      };
      const onAbort = () => fail(req.signal.reason instanceof ConnectError ? req.signal.reason : new ConnectError("the call to the Broker was canceled", Code.Canceled));
      const timeoutMs = Number(header["connect-timeout-ms"] ?? options.defaultTimeoutMs);
      const timer = setTimeout(() => fail(new ConnectError(`the Broker did not answer within ${timeoutMs} ms`, Code.DeadlineExceeded)), timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        req.signal.removeEventListener("abort", onAbort);
      };
      const outgoing = send(
        { hostname, port, path: req.url.slice(origin.length), method: "POST", agent: options.agent, headers: header },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("error", () => fail(new ConnectError("the Broker's answer was cut off", Code.Unavailable)));
          response.on("end", () => {
            if (settled) return;
            settled = true;
            cleanup();
            try {
              resolve(answer(req, response, Buffer.concat(chunks)));
            } catch (error) {
              reject(ConnectError.from(error, Code.Internal));
            }
          });
        },
      );
      outgoing.on("error", (error: NodeJS.ErrnoException) => fail(new ConnectError(`the Broker is unreachable (${error.code ?? error.message})`, Code.Unavailable)));
      if (req.signal.aborted) return onAbort();
      req.signal.addEventListener("abort", onAbort);
      outgoing.end(body);
    });
  }

  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>, signal: AbortSignal | undefined, timeoutMs: number | undefined,
      header: HeadersInit | undefined, input: MessageInitShape<I>, contextValues?: ReturnType<typeof createContextValues>,
    ): Promise<UnaryResponse<I, O>> {
      const headers = new Headers(header);
      // The Broker enforces the deadline too, so work the Gateway gave up on stops there as well.
      const deadline = timeoutMs ?? options.defaultTimeoutMs;
      if (deadline > 0) headers.set("connect-timeout-ms", String(Math.ceil(deadline)));
      const request: UnaryRequest<I, O> = {
        stream: false, service: method.parent, method, requestMethod: "POST",
        url: `${prefix}/${method.parent.typeName}/${method.name}`,
        signal: signal ?? new AbortController().signal, header: headers,
        message: create(method.input, input), contextValues: contextValues ?? createContextValues(),
      };
      return (await call(request as unknown as UnaryRequest)) as unknown as UnaryResponse<I, O>;
    },
    stream(...args) {
      if (options.streams !== undefined) return options.streams.stream(...args);
      return Promise.reject(new ConnectError("streaming calls to the Broker are not supported", Code.Unimplemented));
    },
  };
}

/** Turns the Broker's HTTP answer into a response or a ConnectError with the Broker's code, message and details. */
function answer(req: UnaryRequest, response: IncomingMessage, bytes: Uint8Array): UnaryResponse {
  const header = new Headers();
  const trailer = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (name.startsWith("trailer-")) trailer.append(name.slice("trailer-".length), v);
      else header.append(name, v);
    }
  }
  const status = response.statusCode ?? 0;
  if (status === 200 && header.get("content-type") === "application/proto") {
    return { stream: false, service: req.service, method: req.method, header, trailer, message: fromBinary(req.method.output, bytes) };
  }
  const fallback = new ConnectError(`the Broker answered HTTP ${status}`, status === 200 ? Code.Internal : codeFromHttpStatus(status), header);
  throw errorFromJsonBytes(bytes, header, fallback);
}
