/** Outcome label of a counted operation. */
export type OperationStatus = "success" | "error";

/**
 * What the client counts. {@linkcode createClientMetrics} implements it over a
 * prom-client registry; any other backend can implement it directly.
 */
export interface ClientMetrics {
  /** A GetToken or ResolveToken call finished. */
  tokenFetch(status: OperationStatus): void;
  /** A token cache lookup was served without a Gateway call. */
  cacheHit(): void;
  /** A forced refresh (RefreshToken) finished. */
  refresh(status: OperationStatus): void;
  /** maintainWebSocket or maintainGrpcStream is reconnecting after a close, an error or a failed credential fetch. */
  reconnect(): void;
}

/**
 * The two methods of a prom-client `Registry` the client calls, typed by
 * shape so the client needs neither prom-client nor its types: pass your
 * `new Registry()`, or anything with these methods.
 */
export interface MetricsRegistry {
  getSingleMetric(name: string): unknown;
  // `never`: the client hands over an object shaped like prom-client's metrics, not one of its classes.
  registerMetric(metric: never): void;
}

interface Series {
  readonly labels: Record<string, string>;
  value: number;
}

/**
 * A counter the prom-client registry can collect. The client cannot import
 * prom-client at runtime (it requires Node built-ins, and this library must
 * bundle for browsers), so it hands the registry an object with the shape
 * the registry reads: `name`, `get()` and `reset()`.
 */
interface ClientCounter {
  readonly nexusClientCounter: true;
  name: string;
  readonly help: string;
  readonly type: "counter";
  readonly aggregator: "sum";
  readonly series: Map<string, Series>;
  get(): Promise<{ name: string; help: string; type: "counter"; aggregator: "sum"; values: { value: number; labels: Record<string, string> }[] }>;
  reset(): void;
}

function counter(registry: MetricsRegistry, name: string, help: string): ClientCounter {
  const existing = registry.getSingleMetric(name) as Partial<ClientCounter> | undefined;
  // Several clients (say one per agent_id) may share a registry: they share the counter and differ by labels.
  if (existing?.nexusClientCounter === true) return existing as ClientCounter;
  if (existing !== undefined) throw new Error(`the registry already has a metric named ${name} that the Nexus client did not create`);
  const series = new Map<string, Series>();
  const made: ClientCounter = {
    nexusClientCounter: true, name, help, type: "counter", aggregator: "sum", series,
    async get() {
      return { name: made.name, help, type: "counter", aggregator: "sum", values: [...series.values()].map((s) => ({ value: s.value, labels: { ...s.labels } })) };
    },
    reset() {
      for (const s of series.values()) s.value = 0;
    },
  };
  registry.registerMetric(made as never);
  return made;
}

/** The series of `labels`, created at 0 when new. */
function seriesOf(c: ClientCounter, labels: Record<string, string>): Series {
  const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
  let s = c.series.get(key);
  if (s === undefined) {
    s = { labels, value: 0 };
    c.series.set(key, s);
  }
  return s;
}

/**
 * Registers the client's counters in a prom-client registry (yours: nothing
 * touches the global one) and returns the {@linkcode ClientMetrics} to pass to
 * the client, token cache, authenticatedFetch and maintainWebSocket.
 * `labels` are constant labels on every series, such as `{ agent_id }`; never
 * put a user id or a secret there.
 *
 * Counters: `nexus_client_token_fetches_total{status}`,
 * `nexus_client_cache_hits_total`, `nexus_client_refreshes_total{status}`,
 * `nexus_client_reconnects_total`.
 */
export function createClientMetrics(registry: MetricsRegistry, labels: Record<string, string> = {}): ClientMetrics {
  const fetches = counter(registry, "nexus_client_token_fetches_total", "Credential fetches from the Nexus Gateway (GetToken, ResolveToken, ExchangeToken), by outcome.");
  const hits = counter(registry, "nexus_client_cache_hits_total", "Credential lookups served from the client's token cache.");
  const refreshes = counter(registry, "nexus_client_refreshes_total", "Forced credential refreshes (RefreshToken), by outcome.");
  const reconnects = counter(registry, "nexus_client_reconnects_total", "Reconnect attempts of maintainWebSocket and maintainGrpcStream.");
  const constant = { ...labels };
  // Unlabelled series exist from the start, so a dashboard sees 0 rather than nothing.
  seriesOf(hits, constant);
  seriesOf(reconnects, constant);
  return {
    tokenFetch: (status) => void seriesOf(fetches, { ...constant, status }).value++,
    cacheHit: () => void seriesOf(hits, constant).value++,
    refresh: (status) => void seriesOf(refreshes, { ...constant, status }).value++,
    reconnect: () => void seriesOf(reconnects, constant).value++,
  };
}
