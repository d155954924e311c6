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
}

/** How it ended: the output message, or a ConnectError; either way with the response headers the handler set. */
export type DirectResult =
  | { readonly kind: "ok"; readonly message: Message; readonly header: Headers }
  | { readonly kind: "error"; readonly error: ConnectError; readonly header: Headers };

/** Runs unary calls through the router's interceptors, straight to the implementation. */
export type UnaryDispatch = (call: DirectCall) => Promise<DirectResult>;

/**
 * Creates a dispatcher that calls a unary implementation with a message built
 * in process, through the same interceptors (in the same order) a Connect,
 * gRPC or gRPC-Web call runs: the message is never encoded to bytes and
 * decoded again. The handler sees the context a Connect call would give it
 * (`protocolName` "connect", method POST). Its signal follows the request's
 * and `shutdownSignal`; unlike connect-es's handlers it is not aborted when
 * the call ends (the listeners are removed instead), which spares building
 * an AbortError with a stack trace on every call.
 */
export function createUnaryDispatch(options: { interceptors: readonly Interceptor[]; shutdownSignal?: AbortSignal }): UnaryDispatch {
  const interceptors = [...options.interceptors].reverse();

  return async (call) => {
    const { signal, release } = linkSignals(call.signal, options.shutdownSignal);
    const responseHeader = new Headers();
    const ctx: HandlerContext = {
      method: call.spec.method, service: call.spec.method.parent, signal, timeoutMs: () => undefined,
      requestMethod: "POST", requestHeader: call.header, responseHeader, responseTrailer: new Headers(),
      protocolName: "connect", values: call.contextValues, url: call.url,
    };
    const request: UnaryRequest = {
      stream: false, service: call.spec.method.parent, method: call.spec.method as never, requestMethod: "POST",
      url: call.url, signal, header: call.header, message: call.message, contextValues: call.contextValues,
    };
    const spec = call.spec;
    const innermost = async (req: UnaryRequest): Promise<UnaryResponse> => {
      const output = await spec.impl(req.message as never, { ...ctx, requestHeader: req.header, signal: req.signal, values: req.contextValues });
      return {
        stream: false, service: spec.method.parent, method: spec.method as never,
        header: responseHeader, trailer: ctx.responseTrailer, message: create(spec.method.output as DescMessage, output as never),
      };
    };
    // Built per call, as connect-es does: an interceptor's closure may hold per-call state.
    const chain = interceptors.reduce<(req: UnaryRequest) => Promise<UnaryResponse>>((next, interceptor) => interceptor(next as never) as never, innermost);
    try {
      const response = await chain(request);
      copyInto(response.header, responseHeader);
      copyInto(response.trailer, responseHeader);
      return { kind: "ok", message: response.message, header: responseHeader };
    } catch (error) {
      const connectError = error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
      connectError.metadata.forEach((value, name) => responseHeader.set(name, value));
      return { kind: "error", error: connectError, header: responseHeader };
    } finally {
      release();
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

/** A signal aborted when either input is; `release` detaches it once the call is over. */
function linkSignals(request: AbortSignal, shutdown: AbortSignal | undefined): { signal: AbortSignal; release: () => void } {
  if (shutdown === undefined) return { signal: request, release: () => {} };
  if (request.aborted) return { signal: request, release: () => {} };
  if (shutdown.aborted) return { signal: shutdown, release: () => {} };
  const controller = new AbortController();
  const onRequest = () => controller.abort(request.reason);
  const onShutdown = () => controller.abort(shutdown.reason);
  request.addEventListener("abort", onRequest);
  shutdown.addEventListener("abort", onShutdown);
  return {
    signal: controller.signal,
    release() {
      request.removeEventListener("abort", onRequest);
      shutdown.removeEventListener("abort", onShutdown);
    },
  };
}

function copyInto(from: Headers, to: Headers): void {
  if (from === to) return;
  from.forEach((value, name) => to.set(name, value));
}
