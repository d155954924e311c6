/**
 * Tracing as core code sees it: spans around work, and the W3C trace context
 * read from and written to headers. The runtime supplies an OpenTelemetry
 * implementation only when an OTLP endpoint is configured; otherwise
 * {@linkcode noTracing} runs the work and nothing else, so tracing that is off
 * costs nothing and loads no SDK.
 */

/** Span attribute values (never a secret: names, codes, paths without queries). */
export type SpanAttributes = Record<string, string | number | boolean>;

/** A span in progress. */
export interface SpanHandle {
  setAttributes(attributes: SpanAttributes): void;
  /** Gives the span a better name once it is known (a REST path becomes its RPC). */
  rename(name: string): void;
  /** Marks the span failed; `description` is a code or reason, never an error message that could hold input. */
  fail(description: string): void;
}

/** A server span that outlives the call that opened it (a streamed response ends later). */
export interface ServerSpan extends SpanHandle {
  /** The trace id, for log lines. */
  readonly traceId: string;
  /** Runs `fn` with this span as the parent of spans it starts. */
  enter<T>(fn: () => T): T;
  end(): void;
}

/** Spans and trace context propagation. */
export interface Tracing {
  /** False when off: callers may skip work that only feeds spans. */
  readonly enabled: boolean;
  /** Starts the span of one incoming request, continuing the caller's `traceparent` when it sent one. */
  startServer(name: string, header: Headers, attributes: SpanAttributes): ServerSpan | undefined;
  /** Runs `fn` in a child span of the current one. */
  span<T>(name: string, kind: "client" | "internal", attributes: SpanAttributes, fn: (span: SpanHandle) => Promise<T>): Promise<T>;
  /** Writes the current trace context (`traceparent`, `tracestate`) into outgoing headers. */
  inject(header: Headers): void;
  /** The span of the request in progress, if any. */
  current(): SpanHandle | undefined;
  /** Sends what is buffered and stops. */
  close(): Promise<void>;
}

const noSpan: SpanHandle = { setAttributes() {}, rename() {}, fail() {} };

/** Tracing that is off. */
export const noTracing: Tracing = {
  enabled: false,
  startServer: () => undefined,
  span: (_name, _kind, _attributes, fn) => fn(noSpan),
  inject() {},
  current: () => undefined,
  close: async () => {},
};
