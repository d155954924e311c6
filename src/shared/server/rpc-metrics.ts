import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, Histogram, type Registry } from "prom-client";
import type { Tracing } from "../tracing.ts";

/** Ends the observation of one RPC: with nothing on success, with what was thrown on failure. */
export type RpcDone = (error?: unknown) => void;

/** The RPC metrics of one process. */
export interface RpcMetrics {
  /** Run around every RPC, whatever the protocol (REST too: each route runs its method's interceptors). */
  readonly interceptor: Interceptor;
  /**
   * Counts one RPC answered without the interceptor chain (a cache hit served
   * by the process alone): call it when the call starts, and the function it
   * returns when the answer is known.
   */
  observe(method: DescMethod): RpcDone;
}

const typeByKind: Record<DescMethod["methodKind"], string> = {
  unary: "unary",
  server_streaming: "server_stream",
  client_streaming: "client_stream",
  bidi_streaming: "bidi_stream",
};

/**
 * The gRPC server metrics Grafana's gRPC dashboards read (the names of
 * go-grpc-prometheus): `grpc_server_started_total`, `grpc_server_handled_total`
 * and `grpc_server_handling_seconds`, labelled `grpc_type`, `grpc_service`,
 * `grpc_method` (and `grpc_code` once handled, as gRPC names it: `OK`,
 * `NotFound`, ...). Label values come from the method descriptors only, so a
 * request for a path that is not a method never makes a series. Each RPC's
 * span, when tracing is on, is named after its method here, where REST
 * routes are known by their method at last.
 */
export function createRpcMetrics(registry: Registry, tracing: Tracing): RpcMetrics {
  const labelNames = ["grpc_type", "grpc_service", "grpc_method"] as const;
  const started = new Counter({ name: "grpc_server_started_total", help: "RPCs started on the server, any protocol.", labelNames, registers: [registry] });
  const handled = new Counter({
    name: "grpc_server_handled_total", help: "RPCs completed on the server, by gRPC status code.",
    labelNames: [...labelNames, "grpc_code"] as const, registers: [registry],
  });
  const seconds = new Histogram({
    name: "grpc_server_handling_seconds", help: "Time from the start of an RPC to its answer (the end of a stream), in seconds.",
    labelNames, buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
  });
  type Children = { labels: Record<(typeof labelNames)[number], string>; started: { inc(): void }; seconds: { observe(value: number): void }; handled: Map<string, { inc(): void }> };
  // Children are looked up once per method, not per call.
  const byMethod = new WeakMap<DescMethod, Children>();
  function children(method: DescMethod): Children {
    let c = byMethod.get(method);
    if (c === undefined) {
      const labels = { grpc_type: typeByKind[method.methodKind], grpc_service: method.parent.typeName, grpc_method: method.name };
      c = { labels, started: started.labels(labels), seconds: seconds.labels(labels), handled: new Map() };
      byMethod.set(method, c);
    }
    return c;
  }

  function observe(method: DescMethod): RpcDone {
    const c = children(method);
    c.started.inc();
    const t0 = performance.now();
    const span = tracing.enabled ? tracing.current() : undefined;
    span?.rename(`${method.parent.typeName}/${method.name}`);
    span?.setAttributes({ "rpc.service": method.parent.typeName, "rpc.method": method.name });
    let done = false;
    return (error) => {
      if (done) return;
      done = true;
      c.seconds.observe((performance.now() - t0) / 1000);
      const code = error === undefined ? "OK" : Code[ConnectError.from(error).code];
      let counter = c.handled.get(code);
      if (counter === undefined) c.handled.set(code, (counter = handled.labels({ ...c.labels, grpc_code: code })));
      counter.inc();
      if (span !== undefined) {
        span.setAttributes({ "rpc.grpc.status_code": error === undefined ? 0 : ConnectError.from(error).code });
        if (error !== undefined) span.fail(code);
      }
    };
  }

  const interceptor: Interceptor = (next) => async (request) => {
    const done = observe(request.method);
    let response;
    try {
      response = await next(request);
    } catch (error) {
      done(error);
      throw error;
    }
    if (!response.stream) {
      done();
      return response;
    }
    // A stream is handled when its last message has gone, or when it fails.
    const messages = response.message;
    return {
      ...response,
      message: (async function* () {
        try {
          yield* messages;
          done();
        } catch (error) {
          done(error);
          throw error;
        } finally {
          done(new ConnectError("the client went away", Code.Canceled));
        }
      })(),
    };
  };

  return { interceptor, observe };
}
