import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { RequestScope, RequestScopeValues } from "../request-scope.ts";
import type { ServerSpan, Tracing } from "../tracing.ts";
import { type HttpApp, redactPath } from "./http-app.ts";
import { acceptedRequestId, requestIdHeader } from "./request-id.ts";

/** Options of {@linkcode observeRequests}. */
export interface ObserveRequestsOptions {
  /** Carries the request id (and trace id) to every log line and outgoing call of the request. */
  readonly scope: RequestScope;
  readonly tracing: Tracing;
  /** Makes the id of a request that brought none (or an insane one). */
  readonly randomUUID: () => string;
}

/**
 * Wraps an app so that every request, whatever its path or protocol and
 * whether it succeeds or not, has a request id: the caller's `x-request-id`
 * when sane, else a new UUID. The id is answered in the `x-request-id`
 * header (and the gRPC trailers), and the whole of the request's handling
 * (a streamed body included) runs in the request scope, where log lines and
 * calls to the Broker find it. With tracing on, the request is a server
 * span continuing the caller's `traceparent`.
 */
export function observeRequests(app: HttpApp, options: ObserveRequestsOptions): HttpApp {
  const { scope, tracing } = options;

  async function handle(request: UniversalServerRequest): Promise<UniversalServerResponse> {
    const requestId = acceptedRequestId(request.header.get(requestIdHeader)) ?? options.randomUUID();
    const span = tracing.enabled ? startSpan(request) : undefined;
    const values: RequestScopeValues = span === undefined ? { requestId } : { requestId, traceId: span.traceId };
    const enter = span === undefined ? <T>(fn: () => T) => scope.run(values, fn) : <T>(fn: () => T) => scope.run(values, () => span.enter(fn));
    const response = await enter(() => app.handle(request));
    if (response.header === undefined) response.header = new Headers();
    response.header.set(requestIdHeader, requestId);
    // gRPC clients read an error's metadata from the trailers.
    if (response.trailer !== undefined && response.header.get("content-type")?.startsWith("application/grpc") === true) {
      response.trailer.set(requestIdHeader, requestId);
    }
    const end = span === undefined ? undefined : () => {
      span.setAttributes({ "http.response.status_code": response.status });
      if (response.status >= 500) span.fail(String(response.status));
      span.end();
    };
    if (response.body === undefined) {
      end?.();
      return response;
    }
    // gRPC and streams run their handler while the body is read: that reading stays inside the request.
    response.body = within(response.body, enter, end);
    return response;
  }

  function startSpan(request: UniversalServerRequest): ServerSpan | undefined {
    let path = "";
    try {
      path = redactPath(new URL(request.url).pathname);
    } catch {
      // A malformed URL is answered by the app; its span has no path.
    }
    return tracing.startServer(`${request.method} ${path}`, request.header, {
      "http.request.method": request.method, "url.path": path, "network.protocol.version": request.httpVersion,
    });
  }

  return { ...app, handle };
}

/** A body whose every step runs through `enter`; `end` runs once it is finished or abandoned. */
function within(body: AsyncIterable<Uint8Array>, enter: <T>(fn: () => T) => T, end: (() => void) | undefined): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const it = enter(() => body[Symbol.asyncIterator]());
      let ended = false;
      const finish = () => {
        if (ended) return;
        ended = true;
        end?.();
      };
      return {
        async next() {
          try {
            const step = await enter(() => it.next());
            if (step.done === true) finish();
            return step;
          } catch (error) {
            finish();
            throw error;
          }
        },
        async return(value?: unknown) {
          finish();
          return it.return === undefined ? { done: true as const, value: undefined } : enter(() => it.return!(value));
        },
      };
    },
  };
}
