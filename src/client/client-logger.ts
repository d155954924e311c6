/** Structured fields of a log line. Never put a credential value here. */
export type LogFields = Record<string, unknown>;

/**
 * A logger the client writes to. Every method is optional, so a partial
 * adapter (`{ warn: myLogger.warn }`) or `console` itself fits.
 */
export interface ClientLogger {
  debug?(message: string, fields?: LogFields): void;
  info?(message: string, fields?: LogFields): void;
  warn?(message: string, fields?: LogFields): void;
  error?(message: string, fields?: LogFields): void;
}

/** Log severity, lowest first. */
export type ClientLogLevel = "debug" | "info" | "warn" | "error";

const rank: Record<ClientLogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

// Defence in depth: the client never logs credentials, and a caller's field named like one is masked anyway.
const secretKey = /token|secret|password|authorization|api_?key|credential|signature|cookie/i;

/**
 * The default logger: one JSON object per line through `console.error`, so
 * on Node it goes to stderr. Never stdout: an MCP server speaks JSON-RPC on
 * stdout and a stray log line would corrupt the stream.
 */
export function createConsoleLogger(options: { level?: ClientLogLevel; now?: () => number } = {}): Required<ClientLogger> {
  const threshold = rank[options.level ?? "info"];
  const now = options.now ?? Date.now;
  const emit = (level: ClientLogLevel, message: string, fields: LogFields = {}) => {
    if (rank[level] < threshold) return;
    const safe = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, secretKey.test(k) ? "[redacted]" : describe(v)]));
    console.error(JSON.stringify({ time: new Date(now()).toISOString(), level, msg: message, component: "nexus-client", ...safe }));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** Errors serialise to `{}` in JSON; keep their name, reason and message instead. */
function describe(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const reason = (value as { reason?: unknown }).reason;
  return { name: value.name, message: value.message, ...(typeof reason === "string" ? { reason } : {}) };
}

/** Fills in the methods a caller's logger lacks, so call sites need no checks. */
export function completeLogger(logger: ClientLogger | undefined): Required<ClientLogger> {
  const base = logger ?? createConsoleLogger();
  const call = (method: ClientLogLevel) => (message: string, fields?: LogFields) => {
    try {
      base[method]?.(message, fields);
    } catch {
      // A broken logger must not break token fetches or sockets.
    }
  };
  return { debug: call("debug"), info: call("info"), warn: call("warn"), error: call("error") };
}
