import { type Context, context, createContextKey, INVALID_SPAN_CONTEXT, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base";
import type { OtelConfig } from "../../shared/otel-config.ts";
import type { ServerSpan, SpanHandle, Tracing } from "../../shared/tracing.ts";

const kServerSpan = createContextKey("nexus server span");
const propagator = new W3CTraceContextPropagator();
const getter = { get: (h: Headers, key: string) => h.get(key) ?? undefined, keys: (h: Headers) => [...h.keys()] };
const setter = { set: (h: Headers, key: string, value: string) => h.set(key, value) };

/**
 * Tracing with the OpenTelemetry SDK, exporting over OTLP/HTTP. Loaded only
 * when configured (the runtime imports this module dynamically). Each service
 * has its own provider, so a Broker and a Gateway in one process keep their
 * own service names; the context manager (AsyncLocalStorage) is the process's.
 * Spans other than a request's own are made only inside a request: the
 * background loops' queries would otherwise each be a trace of their own.
 */
export function createOtelTracing(config: OtelConfig): Tracing {
  // Registers once per process; a second service finds it in place.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const exporterOptions = { url: config.url, headers: { ...config.headers } };
  const exporter = config.protocol === "http/json" ? new JsonExporter(exporterOptions) : new ProtobufExporter(exporterOptions);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": config.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer("nexus");

  function handle(span: Span): SpanHandle {
    return {
      setAttributes: (attributes) => void span.setAttributes(attributes),
      rename: (name) => void span.updateName(name),
      fail: (description) => void span.setStatus({ code: SpanStatusCode.ERROR, message: description }),
    };
  }

  return {
    enabled: true,
    startServer(name, header, attributes): ServerSpan {
      // The root, not the active context: a Gateway in the same process must not parent the Broker's span.
      const parent = propagator.extract(ROOT_CONTEXT, header, getter);
      const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
      const base = handle(span);
      const ctx: Context = trace.setSpan(parent, span).setValue(kServerSpan, base);
      return {
        ...base,
        traceId: span.spanContext().traceId,
        enter: (fn) => context.with(ctx, fn),
        end: () => span.end(),
      };
    },
    async span(name, kind, attributes, fn) {
      if (trace.getSpan(context.active()) === undefined) return fn(handle(trace.wrapSpanContext(INVALID_SPAN_CONTEXT)));
      return tracer.startActiveSpan(name, { kind: kind === "client" ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes }, async (span) => {
        try {
          return await fn(handle(span));
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR });
          throw error;
        } finally {
          span.end();
        }
      });
    },
    inject: (header) => propagator.inject(context.active(), header, setter),
    current: () => context.active().getValue(kServerSpan) as SpanHandle | undefined,
    close: () => provider.shutdown(),
  };
}
