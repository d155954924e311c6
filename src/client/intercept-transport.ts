import { createContextValues, type Interceptor, type Transport } from "@connectrpc/connect";
import { createMethodUrl, runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";

/**
 * Runs `interceptors` on every call of a transport someone else built (for
 * example `grpcTransport(url)` from the Node entry), the way a transport runs
 * the interceptors it was created with. The client authenticates to the
 * Gateway with an interceptor, so it must work whichever transport the agent
 * passes in.
 */
export function interceptTransport(transport: Transport, baseUrl: string, interceptors: Interceptor[]): Transport {
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      return runUnaryCall({
        interceptors,
        ...(signal === undefined ? {} : { signal }),
        req: {
          stream: false, service: method.parent, method, requestMethod: "POST", url: createMethodUrl(baseUrl, method),
          header: new Headers(header), contextValues: contextValues ?? createContextValues(), message: input,
        },
        next: (req) => transport.unary(req.method, req.signal, timeoutMs, req.header, req.message, req.contextValues),
      });
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      return runStreamingCall({
        interceptors,
        ...(signal === undefined ? {} : { signal }),
        req: {
          stream: true, service: method.parent, method, requestMethod: "POST", url: createMethodUrl(baseUrl, method),
          header: new Headers(header), contextValues: contextValues ?? createContextValues(), message: input,
        },
        next: (req) => transport.stream(req.method, req.signal, timeoutMs, req.header, req.message, req.contextValues),
      });
    },
  };
}
