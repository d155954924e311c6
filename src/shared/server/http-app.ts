import type { DescService } from "@bufbuild/protobuf";
import { type ConnectRouter, createConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { Registry } from "prom-client";
import type { Logger } from "../logger.ts";
import { type ApiKeyVerifier, presentedKey } from "./api-key-auth.ts";
import { createCors } from "./cors.ts";
import { bytesResponse, connectErrorResponse, errorResponse, jsonResponse } from "./error-response.ts";
import { type HealthSource, registerHealth } from "./health-service.ts";
import { addProtocolErrorReasons } from "./protocol-error-reasons.ts";
import { registerReflection } from "./reflection-service.ts";
import { createRestTranscoder, type RestRouteInfo } from "./rest-transcoder.ts";
import { createConnectUnary } from "./connect-unary.ts";
import { createGrpcUnary } from "./grpc-unary.ts";
import { createUnaryDispatch, recordImplementations } from "./unary-dispatch.ts";
import { toConnectError } from "../connect-errors.ts";
import { inputPatterns } from "../input-rules.ts";

/** Extra non-RPC route, for example a static page; answers undefined to pass. */
export type PageHandler = (request: UniversalServerRequest, url: URL) => Promise<UniversalServerResponse | undefined>;

/** Options of {@linkcode createHttpApp}. */
export interface HttpAppOptions {
  /** Registers the process's own services. */
  routes: (router: ConnectRouter) => void;
  /** Run around every RPC, native or transcoded from REST. */
  interceptors: Interceptor[];
  /** Readiness, for grpc.health.v1 and GET /healthz. */
  health: HealthSource;
  /** Metrics served at GET /metrics. Never the global registry. */
  registry: Registry;
  /**
   * Who may read GET /metrics: `public` (anyone), `none` (not served here:
   * another listener serves them), or a check of the presented API key.
   * @default "public"
   */
  metricsAccess?: "public" | "none" | ApiKeyVerifier;
  /** Browser origins allowed cross-origin; undefined disables CORS handling. */
  corsAllowedOrigins?: readonly string[];
  /** Largest request message or REST body, in bytes. @default 1048576 */
  readMaxBytes?: number;
  /** Deepest nesting of a request message, binary or JSON; protobuf's parsers refuse deeper ones. @default 64 */
  maxMessageDepth?: number;
  /** Largest single request header value, in bytes. @default 8192 */
  maxHeaderValueBytes?: number;
  /** Largest deadline a client may ask for. @default 60000 */
  maxTimeoutMs?: number;
  /** Aborted on shutdown: every in-flight handler's signal follows it. */
  shutdownSignal?: AbortSignal;
  /** Tried for requests no RPC or REST route takes. */
  pages?: PageHandler;
  /** Methods (`pkg.Service/Method`) whose REST errors are RFC 6749 token endpoint errors. */
  oauthErrorMethods?: readonly string[];
  logger: Logger;
}

/** One process's HTTP surface, independent of the runtime serving it. */
export interface HttpApp {
  /** Answers one request. Never throws. */
  handle(request: UniversalServerRequest): Promise<UniversalServerResponse>;
  /** The REST routes, transcoded from the contract. */
  readonly restRoutes: readonly RestRouteInfo[];
  /** The services served, for reflection and docs. */
  readonly services: readonly DescService[];
}

/**
 * Builds a process's HTTP surface from its Connect routes: gRPC, gRPC-Web and
 * Connect (JSON and binary) on every RPC path, REST transcoded from the
 * google.api.http annotations, grpc.health.v1 and GET /healthz, gRPC
 * reflection, GET /metrics, CORS and request limits. Every malformed request
 * is answered with a 4xx and a reason, whichever layer (the body reader,
 * connect-es's parser, an interceptor) refuses it.
 */
export function createHttpApp(options: HttpAppOptions): HttpApp {
  const readMaxBytes = options.readMaxBytes ?? 1024 * 1024;
  const recursionLimit = options.maxMessageDepth ?? 64;
  const maxHeaderValueBytes = options.maxHeaderValueBytes ?? 8192;
  const logger = options.logger;
  const router = createConnectRouter({
    interceptors: options.interceptors,
    readMaxBytes,
    maxTimeoutMs: options.maxTimeoutMs ?? 60_000,
    jsonOptions: { ignoreUnknownFields: false, recursionLimit },
    binaryOptions: { recursionLimit },
    ...(options.shutdownSignal === undefined ? {} : { shutdownSignal: options.shutdownSignal }),
  });
  const recorded = recordImplementations(router);
  options.routes(recorded.router);
  const own = uniqueServices(router.handlers);
  registerHealth(router, options.health, ["", ...own.map((s) => s.typeName)]);
  registerReflection(router, uniqueServices(router.handlers));
  const services = uniqueServices(router.handlers);
  const handlers = router.handlers.map(addProtocolErrorReasons);
  const byPath = new Map<string, UniversalHandler>(handlers.map((h) => [h.requestPath, h]));
  const dispatch = createUnaryDispatch({ interceptors: options.interceptors, ...(options.shutdownSignal === undefined ? {} : { shutdownSignal: options.shutdownSignal }) });
  const transcoder = createRestTranscoder(recorded.implementations.values(), { dispatch, readMaxBytes, recursionLimit, oauthErrorMethods: options.oauthErrorMethods ?? [] });
  // Plain Connect and gRPC unary calls skip connect-es's handlers; every other call on an RPC path goes through them.
  const maxTimeoutMs = options.maxTimeoutMs ?? 60_000;
  const connectUnary = createConnectUnary({ dispatch, readMaxBytes, recursionLimit, maxTimeoutMs });
  const grpcUnary = createGrpcUnary({ dispatch, readMaxBytes, recursionLimit, maxTimeoutMs });
  const cors = options.corsAllowedOrigins === undefined ? undefined : createCors(options.corsAllowedOrigins);
  const metricsAccess = options.metricsAccess ?? "public";

  async function route(request: UniversalServerRequest, url: URL): Promise<UniversalServerResponse> {
    const rpc = byPath.get(url.pathname);
    if (rpc !== undefined) {
      const spec = recorded.implementations.get(url.pathname);
      return (spec === undefined ? undefined : connectUnary(request, spec) ?? grpcUnary(request, spec)) ?? rpc(request);
    }
    const rest = transcoder.match(request.method, url.pathname);
    if (rest?.kind === "route") return transcoder.handle(request, rest, url);
    if (rest?.kind === "method_not_allowed") {
      return errorResponse("not_found", `${request.method} is not allowed on ${url.pathname}; use ${rest.allowed.join(" or ")}`, {
        status: 405,
        header: new Headers({ allow: rest.allowed.join(", ") }),
      });
    }
    if (request.method === "GET" || request.method === "HEAD") {
      if (url.pathname === "/healthz") {
        const status = await options.health.check(request.signal);
        return jsonResponse(status === "SERVING" ? 200 : 503, { status });
      }
      if (url.pathname === "/metrics" && metricsAccess !== "none") {
        if (metricsAccess !== "public") {
          const key = presentedKey(request.header);
          if (key === undefined || (await metricsAccess.verify(key)) === undefined) {
            return errorResponse("unauthenticated", "GET /metrics needs the admin API key (METRICS_REQUIRE_API_KEY is on): send X-API-Key: <key>", {
              header: new Headers({ "www-authenticate": "Bearer" }),
            });
          }
        }
        return bytesResponse(200, options.registry.contentType, await options.registry.metrics());
      }
    }
    const page = await options.pages?.(request, url);
    if (page !== undefined) return page;
    // The path in ErrorInfo lets a client tell "no such route here" (a wrong base URL) from a missing resource.
    return errorResponse("not_found", `no route for ${request.method} ${url.pathname}`, { details: { metadata: { method: request.method, path: url.pathname } } });
  }

  async function handle(request: UniversalServerRequest): Promise<UniversalServerResponse> {
    const started = Date.now();
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return errorResponse("invalid_argument", "the request URL is malformed");
    }
    let response: UniversalServerResponse;
    try {
      response = await guarded(request, url);
    } catch (error) {
      // Handlers answer errors themselves; reaching here is a fault of ours.
      response = connectErrorResponse(toConnectError(error, logger));
    }
    // A body refused as too large was not read to its end: on HTTP/1.1 the rest of it would be
    // taken for the next request on the connection, so the connection ends with this answer.
    if (response.status === 413 && request.httpVersion.startsWith("1")) response.header?.set("connection", "close");
    // Paths only: query strings of /auth/* carry codes and states.
    if (logger.enabled?.("debug") !== false) {
      logger.debug("request", { method: request.method, path: redactPath(url.pathname), status: response.status, ms: Date.now() - started });
    }
    return response;
  }

  async function guarded(request: UniversalServerRequest, url: URL): Promise<UniversalServerResponse> {
    const oversized = oversizedHeader(request.header, maxHeaderValueBytes);
    if (oversized !== undefined) {
      return errorResponse("header_too_large", `request header ${JSON.stringify(oversized)} is longer than ${maxHeaderValueBytes} bytes`, { status: 431 });
    }
    const origin = request.header.get("origin");
    if (cors === undefined || origin === null) return route(request, url);
    if (request.method === "OPTIONS") return cors.preflight(request);
    if (!cors.allows(origin, request)) {
      return errorResponse("permission_denied", `origin ${JSON.stringify(origin)} is not in CORS_ALLOWED_ORIGINS`, {
        status: 403,
        header: new Headers({ vary: "Origin" }),
      });
    }
    return cors.decorate(await route(request, url), origin);
  }

  return { handle, restRoutes: transcoder.routes, services };
}

function uniqueServices(handlers: readonly UniversalHandler[]): DescService[] {
  return [...new Set(handlers.map((h) => h.service))];
}

function oversizedHeader(header: Headers, limit: number): string | undefined {
  for (const [name, value] of header) {
    if (value.length > limit) return name;
  }
  return undefined;
}

/**
 * A path for the log with every segment that could be a credential replaced:
 * a JWT, an agent key, or any long opaque token. Routes carry ids, never
 * secrets, but a caller may put one where an id belongs.
 */
export function redactPath(pathname: string): string {
  return pathname.split("/").map((segment) =>
    inputPatterns.compactJws.test(segment) || /^nx[a-z]*_/.test(segment) || (segment.length > 40 && !inputPatterns.uuid.test(segment))
      ? "[redacted]" : segment).join("/");
}
