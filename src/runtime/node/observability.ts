import type { Env } from "../../shared/config-reader.ts";
import type { LogFields } from "../../shared/logger.ts";
import { loadOtelConfig } from "../../shared/otel-config.ts";
import { requestLogFields, type RequestScope } from "../../shared/request-scope.ts";
import { noTracing, type Tracing } from "../../shared/tracing.ts";
import { asyncRequestScope } from "./async-request-scope.ts";

/** A process's request scope, its tracing, and the log fields they give each line. */
export interface Observability {
  readonly scope: RequestScope;
  readonly tracing: Tracing;
  /** For the logger: the request id (and trace id) of the request in progress. */
  logContext(): LogFields | undefined;
}

/**
 * Sets up request ids and, when the OTEL_* variables ask for it, tracing.
 * The OpenTelemetry SDK is imported only then: a process without an OTLP
 * endpoint never loads it.
 */
export async function startObservability(env: Env, defaultServiceName: string): Promise<Observability> {
  const config = loadOtelConfig(env, defaultServiceName);
  const tracing = config === undefined ? noTracing : (await import("./otel-tracing.ts")).createOtelTracing(config);
  return { scope: asyncRequestScope, tracing, logContext: () => requestLogFields(asyncRequestScope) };
}
