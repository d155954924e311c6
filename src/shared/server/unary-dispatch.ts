import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import {
  Code, ConnectError, type ConnectRouter, type ContextValues, createServiceImplSpec, type HandlerContext, type Interceptor,
  type MethodImplSpec, type UnaryRequest, type UnaryResponse,
} from "@connectrpc/connect";

/** A unary method's implementation, as registered on the router. */
export type UnaryImplSpec = Extract<MethodImplSpec, { kind: "unary" }>;

/** A call made in process: the request message is already bound, nothing is encoded. */
export interface DirectCall {
  readonly spec: UnaryImplSpec;
  readonly message: Message;
  /** What interceptors and the handler read as the request headers. */
  readonly header: Headers;
  /** The URL the call is made to, as a Connect call to the method would carry it. */
  readonly url: string;
  readonly signal: AbortSignal;
  readonly contextValues: ContextValues;
  /** The caller's deadline, in ms from now; none when absent. */
  readonly timeoutMs?: number;
}

/** How it ended: the output message, or a ConnectError; either way with the response headers and trailers the handler set. */
export type DirectResult =
  | { readonly kind: "ok"; readonly message: Message; readonly header: Headers; readonly trailer: Headers }
  | { readonly kind: "error"; readonly error: ConnectError; readonly header: Headers; readonly trailer: Headers };

/** Runs unary calls through the router's interceptors, straight to the implementation. */
export type UnaryDispatch = (call: DirectCall) => Promise<DirectResult>;

/**
 * Creates a dispatcher that calls a unary implementation with a message built
 * in process, through the same interceptors (in the same order) a Connect,
 * gRPC or gRPC-Web call runs: the message is never encoded to bytes and
 * decoded again. The handler sees the context a Connect call would give it
 * (`protocolName` "connect", method POST). Its signal follows the request's
 * and `shutdownSignal`, linked only when someone reads it (a call answered
 * from memory never does); unlike connect-es's handlers it is not aborted
 * when the call ends (the listeners are removed instead), which spares
 * building an AbortError with a stack trace on every call.
 */
export function createUnaryDispatch(options: { interceptors: readonly Interceptor[]; shutdownSignal?: AbortSignal }): UnaryDispatch {
  const interceptors = [...options.interceptors].reverse();

  return async (call) => {
    const deadline = call.timeoutMs === undefined ? undefined : Date.now() + call.timeoutMs;
    const link = lazyLink(call.signal, options.shutdownSignal, deadline);
    const timeoutMs = deadline === undefined ? () => undefined : () => deadline - Date.now();
    const spec = call.spec;
    const method = spec.method;
    const responseHeader = new Headers();
    const responseTrailer = new Headers();
    const request = {
      stream: false, service: method.parent, method, requestMethod: "POST", url: call.url, header: call.header,
      message: call.message, contextValues: call.contextValues,
      get signal() {
        return link.signal;
      },
    } as unknown as UnaryRequest;
    const innermost = async (req: UnaryRequest): Promise<UnaryResponse> => {
      const ctx: HandlerContext = {
        method, service: method.parent, timeoutMs, requestMethod: "POST", requestHeader: req.header,
        responseHeader, responseTrailer, protocolName: "connect", values: req.contextValues, url: call.url,
        get signal() {
          return req.signal;
        },
      };
      const output = await spec.impl(req.message as never, ctx);
      return {
        stream: false, service: method.parent, method: method as never,
        header: responseHeader, trailer: responseTrailer, message: create(method.output as DescMessage, output as never),
      };
    };
    // Built per call, as connect-es does: an interceptor's closure may hold per-call state.
    const chain = interceptors.reduce<(req: UnaryRequest) => Promise<UnaryResponse>>((next, interceptor) => interceptor(next as never) as never, innermost);
    try {
      const response = await chain(request);
      copyInto(response.header, responseHeader);
      copyInto(response.trailer, responseTrailer);
      return { kind: "ok", message: response.message, header: responseHeader, trailer: responseTrailer };
    } catch (error) {
      const connectError = error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
      connectError.metadata.forEach((value, name) => responseHeader.set(name, value));
      return { kind: "error", error: connectError, header: responseHeader, trailer: responseTrailer };
    } finally {
      link.release();
    }
  };
}

/**
 * Registers services on `router` and records their implementations, so that
 * REST calls can reach them directly: connect-es's handlers keep them private.
 */
export function recordImplementations(router: ConnectRouter): { router: ConnectRouter; implementations: Map<string, UnaryImplSpec> } {
  const implementations = new Map<string, UnaryImplSpec>();
  const keep = (spec: MethodImplSpec) => {
    if (spec.kind === "unary") implementations.set(`/${spec.method.parent.typeName}/${spec.method.name}`, spec);
  };
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, impl, options) {
      router.service(service, impl, options);
      for (const spec of Object.values(createServiceImplSpec(service, impl).methods)) keep(spec);
      return recording;
    },
    rpc(method, impl, options) {
      router.rpc(method, impl, options);
      keep({ kind: method.methodKind, method, impl } as MethodImplSpec);
      return recording;
    },
  };
  return { router: recording, implementations };
}

/**
 * A signal aborted when either input is, or at `deadline` (ms since the
 * epoch), made on first use (a controller, listeners and a timer per call add
 * up on a hot path, and a call answered from memory never reads it);
 * `release` detaches it once the call is over.
 */
function lazyLink(request: AbortSignal, shutdown: AbortSignal | undefined, deadline: number | undefined): { readonly signal: AbortSignal; release(): void } {
  let release = () => {};
  let linked: AbortSignal | undefined;
  return {
    get signal() {
      if (linked !== undefined) return linked;
      if (request.aborted) return (linked = request);
      if (shutdown?.aborted === true) return (linked = shutdown);
      if (shutdown === undefined && deadline === undefined) return (linked = request);
      const controller = new AbortController();
      const onRequest = () => controller.abort(request.reason);
      const onShutdown = () => controller.abort(shutdown?.reason);
      request.addEventListener("abort", onRequest);
      shutdown?.addEventListener("abort", onShutdown);
      const timer = deadline === undefined ? undefined
        : setTimeout(() => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), Math.max(0, deadline - Date.now()));
      release = () => {
        clearTimeout(timer);
        request.removeEventListener("abort", onRequest);
        shutdown?.removeEventListener("abort", onShutdown);
      };
      return (linked = controller.signal);
    },
    release: () => release(),
  };
}

function copyInto(from: Headers, to: Headers): void {
  if (from === to) return;
  from.forEach((value, name) => to.set(name, value));
}
