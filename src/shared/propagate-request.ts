import type { Interceptor } from "@connectrpc/connect";
import type { RequestScope } from "./request-scope.ts";
import { requestIdHeader } from "./server/request-id.ts";
import type { Tracing } from "./tracing.ts";

/**
 * An interceptor for outgoing calls (the Gateway's to the Broker) that
 * carries the request in progress along: its `x-request-id`, so both
 * services log the same id, and with tracing on a client span whose
 * `traceparent` the Broker continues.
 */
export function propagateRequest(scope: RequestScope, tracing: Tracing): Interceptor {
  return (next) => async (request) => {
    const current = scope.current();
    if (current !== undefined) request.header.set(requestIdHeader, current.requestId);
    if (!tracing.enabled) return next(request);
    const name = `${request.method.parent.typeName}/${request.method.name}`;
    return tracing.span(name, "client", { "rpc.service": request.method.parent.typeName, "rpc.method": request.method.name }, async (span) => {
      tracing.inject(request.header);
      try {
        return await next(request);
      } catch (error) {
        span.fail((error as { code?: unknown }).code === undefined ? "error" : String((error as { code: unknown }).code));
        throw error;
      }
    });
  };
}
