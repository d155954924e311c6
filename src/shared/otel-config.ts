import { createConfigReader, type Env } from "./config-reader.ts";

/** Where and how spans are exported; undefined config means tracing is off. */
export interface OtelConfig {
  /** The full OTLP/HTTP traces URL (`.../v1/traces`). */
  readonly url: string;
  readonly protocol: "http/protobuf" | "http/json";
  /** Sent with every export (an API key of the collector, say): never logged. */
  readonly headers: Readonly<Record<string, string>>;
  readonly serviceName: string;
  /** Fraction of new traces kept; a caller's sampled flag is always followed. */
  readonly sampleRatio: number;
}

/**
 * Reads the standard OpenTelemetry variables. Tracing is on when
 * OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set,
 * unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Only OTLP over
 * HTTP is spoken (http/protobuf, the default, or http/json).
 */
export function loadOtelConfig(env: Env, defaultServiceName: string): OtelConfig | undefined {
  const r = createConfigReader(env);
  const tracesEndpoint = r.url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const endpoint = r.url("OTEL_EXPORTER_OTLP_ENDPOINT");
  const disabled = r.boolean("OTEL_SDK_DISABLED", false) || r.string("OTEL_TRACES_EXPORTER") === "none";
  const protocol = r.string("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? r.string("OTEL_EXPORTER_OTLP_PROTOCOL") ?? "http/protobuf";
  if (protocol !== "http/protobuf" && protocol !== "http/json") {
    r.problem(`OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json (Nexus exports over OTLP/HTTP only), got "${protocol}".`);
  }
  const exporter = r.string("OTEL_TRACES_EXPORTER");
  if (exporter !== undefined && exporter !== "otlp" && exporter !== "none") r.problem(`OTEL_TRACES_EXPORTER must be otlp or none, got "${exporter}".`);
  const headers = parseHeaders(r.string("OTEL_EXPORTER_OTLP_TRACES_HEADERS") ?? r.string("OTEL_EXPORTER_OTLP_HEADERS"), r.problem);
  const sampleRatio = sampler(r.string("OTEL_TRACES_SAMPLER"), r.string("OTEL_TRACES_SAMPLER_ARG"), r.problem);
  const serviceName = r.string("OTEL_SERVICE_NAME", { default: defaultServiceName })!;
  r.finish();
  if (disabled || (tracesEndpoint === undefined && endpoint === undefined)) return undefined;
  // The signal-specific variable is the URL itself; the general one is a base to which /v1/traces is added.
  const url = tracesEndpoint?.href ?? `${endpoint!.href.replace(/\/$/, "")}/v1/traces`;
  return { url, protocol: protocol as OtelConfig["protocol"], headers, serviceName, sampleRatio };
}

function parseHeaders(value: string | undefined, problem: (m: string) => void): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of value?.split(",") ?? []) {
    const at = pair.indexOf("=");
    if (at <= 0) {
      problem("OTEL_EXPORTER_OTLP_HEADERS must be a comma-separated list of name=value pairs.");
      continue;
    }
    try {
      out[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      problem("OTEL_EXPORTER_OTLP_HEADERS holds a malformed %-escape.");
    }
  }
  return out;
}

function sampler(name: string | undefined, arg: string | undefined, problem: (m: string) => void): number {
  if (name === undefined || name === "parentbased_always_on" || name === "always_on") return 1;
  if (name === "parentbased_always_off" || name === "always_off") return 0;
  if (name === "parentbased_traceidratio" || name === "traceidratio") {
    const ratio = Number(arg ?? "1");
    if (arg !== undefined && (!Number.isFinite(ratio) || ratio < 0 || ratio > 1)) problem(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got "${arg}".`);
    return Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 1;
  }
  problem(`OTEL_TRACES_SAMPLER must be parentbased_always_on, parentbased_always_off or parentbased_traceidratio, got "${name}".`);
  return 1;
}
