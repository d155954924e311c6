import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { errorResponse } from "./error-response.ts";

/** Request headers a browser may send: what Connect, gRPC-Web and our auth need. */
const allowedHeaders = [
  "content-type", "connect-protocol-version", "connect-timeout-ms", "connect-content-encoding",
  "connect-accept-encoding", "content-encoding", "accept-encoding", "x-grpc-web", "x-user-agent",
  "grpc-timeout", "authorization", "x-api-key",
];
/** Response headers a browser script may read: status and errors of gRPC-Web and Connect. */
const exposedHeaders = [
  "grpc-status", "grpc-message", "grpc-status-details-bin", "content-encoding",
  "connect-content-encoding", "retry-after",
];
const allowedMethods = "GET, POST, PUT, PATCH, DELETE";

/** Cross-origin policy of one server. */
export interface Cors {
  /** Tells whether `origin` may call; a page from the server's own origin always may. */
  allows(origin: string, request: UniversalServerRequest): boolean;
  /** Answers an OPTIONS preflight. */
  preflight(request: UniversalServerRequest): UniversalServerResponse;
  /** Adds the headers an allowed cross-origin response needs. */
  decorate(response: UniversalServerResponse, origin: string): UniversalServerResponse;
}

/**
 * Creates the CORS policy for an allow-list of origins: exact origins such as
 * `https://app.example.com`, or `https://*.example.com` for any subdomain.
 * Origins are compared exactly (scheme, host and port), never by prefix.
 */
export function createCors(allowedOrigins: readonly string[]): Cors {
  const exact = new Set<string>();
  const wildcards: { scheme: string; suffix: string; port: string }[] = [];
  for (const o of allowedOrigins) {
    const m = /^(https?):\/\/\*\.([a-z0-9.-]+?)(:\d+)?$/.exec(o);
    if (m) wildcards.push({ scheme: m[1]!, suffix: `.${m[2]!}`, port: m[3] ?? "" });
    else exact.add(o);
  }
  function listed(origin: string): boolean {
    if (exact.has(origin)) return true;
    const m = /^(https?):\/\/([a-z0-9.-]+)(:\d+)?$/.exec(origin);
    if (!m) return false;
    return wildcards.some((w) => w.scheme === m[1] && m[2]!.endsWith(w.suffix) && w.port === (m[3] ?? ""));
  }
  const cors: Cors = {
    allows(origin, request) {
      return listed(origin.toLowerCase()) || origin === new URL(request.url).origin;
    },
    preflight(request) {
      const origin = request.header.get("origin") ?? "";
      if (!cors.allows(origin, request)) {
        return errorResponse("permission_denied", `origin ${JSON.stringify(origin)} is not in CORS_ALLOWED_ORIGINS`, {
          status: 403,
          header: new Headers({ vary: "Origin" }),
        });
      }
      const requested = (request.header.get("access-control-request-headers") ?? "")
        .split(",").map((h) => h.trim().toLowerCase()).filter((h) => h !== "");
      const refused = requested.filter((h) => !allowedHeaders.includes(h));
      if (refused.length > 0) {
        return errorResponse("permission_denied", `request header ${refused.join(", ")} is not allowed cross-origin`, {
          status: 403,
          header: new Headers({ vary: "Origin" }),
        });
      }
      return {
        status: 204,
        header: new Headers({
          "access-control-allow-origin": origin,
          "access-control-allow-methods": allowedMethods,
          "access-control-allow-headers": allowedHeaders.join(", "),
          "access-control-max-age": "7200",
          vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        }),
      };
    },
    decorate(response, origin) {
      const header = new Headers(response.header);
      header.set("access-control-allow-origin", origin);
      header.set("access-control-expose-headers", exposedHeaders.join(", "));
      header.append("vary", "Origin");
      return { ...response, header };
    },
  };
  return cors;
}
