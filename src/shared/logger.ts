/**
 * Structured logging: one JSON object per line, written through an injected
 * sink (stderr in the runtime entries). Values under secret-looking keys are
 * replaced before anything is written, at every depth, so a token that slips
 * into a field never reaches the log.
 */

/** Log severity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured fields of a log line. */
export type LogFields = Record<string, unknown>;

/** A structured logger. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
  /** Whether lines of `level` are written, so a hot path can skip building them. Absent: assume they are. */
  enabled?(level: LogLevel): boolean;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lines below this level are dropped. @default "info" */
  level?: LogLevel;
  /** Receives each complete line, newline included. */
  write: (line: string) => void;
  /** The clock stamped on each line. @default Date.now */
  now?: () => number;
  /** Fields added to every line, for example `{ service: "broker" }`. */
  base?: LogFields;
  /** Fields of the moment, read at each line: the request in progress (`request_id`). */
  context?: () => LogFields | undefined;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Keys whose values are never logged (compared lowercase, `-` as `_`). */
const secretKeys = new Set([
  "access_token", "refresh_token", "id_token", "token", "client_secret", "secret", "password",
  "api_key", "apikey", "x_api_key", "authorization", "cookie", "set_cookie", "code", "code_verifier",
  "state", "nonce", "credentials", "key", "keys", "encryption_key", "state_key", "session_token",
  "secret_key", "private_key",
]);

/** Creates a JSON-lines logger. */
export function createLogger(options: LoggerOptions): Logger {
  const threshold = rank[options.level ?? "info"];
  const now = options.now ?? Date.now;
  const base = options.base ?? {};
  function emit(level: LogLevel, message: string, fields: LogFields | undefined, extra: LogFields): void {
    if (rank[level] < threshold) return;
    const line = { time: new Date(now()).toISOString(), level, msg: message, ...base, ...options.context?.(), ...extra, ...fields };
    options.write(`${JSON.stringify(redact(line, 0))}\n`);
  }
  function make(extra: LogFields): Logger {
    return {
      debug: (m, f) => emit("debug", m, f, extra),
      info: (m, f) => emit("info", m, f, extra),
      warn: (m, f) => emit("warn", m, f, extra),
      error: (m, f) => emit("error", m, f, extra),
      child: (fields) => make({ ...extra, ...fields }),
      enabled: (level) => rank[level] >= threshold,
    };
  }
  return make({});
}

/** A logger that discards everything, for tests that do not look at logs. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/** Tells whether a field name is one whose value must never be logged. */
export function isSecretKey(key: string): boolean {
  return secretKeys.has(key.toLowerCase().replaceAll("-", "_"));
}

/** Returns a copy of `value` with secret-named fields replaced, errors flattened. */
export function redact(value: unknown, depth: number): unknown {
  if (depth > 8) return "[too deep]";
  if (value instanceof Error) return describeError(value, depth);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = isSecretKey(k) && v !== undefined && v !== null && v !== "" ? "[redacted]" : redact(v, depth + 1);
    }
    return out;
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

function describeError(error: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: error.message };
  const reason = (error as { reason?: unknown }).reason;
  if (typeof reason === "string") out.reason = reason;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") out.code = code;
  if (error.cause !== undefined) out.cause = redact(error.cause, depth + 1);
  return out;
}
