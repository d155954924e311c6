import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "../../../gen/grpc/health/v1/health_pb.ts";

/** Whether the server can do its work right now. */
export type ServingStatus = "SERVING" | "NOT_SERVING";

/** Where the health service learns the server's status. */
export interface HealthSource {
  /** Current status of the whole server (""), and of each named service. Should be cheap; called per Check. */
  check(signal: AbortSignal): Promise<ServingStatus>;
}

/** Options of {@linkcode registerHealth}. */
export interface HealthOptions {
  /** How often a Watch call polls the source for a change; 5000 by default. */
  watchIntervalMs?: number;
}

const defaultWatchIntervalMs = 5000;

/**
 * Registers `grpc.health.v1.Health`, the probe that load balancers, Kubernetes
 * gRPC probes and `grpc_health_probe` speak.
 *
 * The server as a whole ("") and every name in `serviceNames` report the
 * source's status: the services share one process and one database, so they
 * are healthy or not together. A source that throws counts as NOT_SERVING, as
 * a server that cannot tell its health should not be sent traffic.
 */
export function registerHealth(
  router: ConnectRouter,
  source: HealthSource,
  serviceNames: readonly string[],
  options: HealthOptions = {},
): void {
  const intervalMs = options.watchIntervalMs ?? defaultWatchIntervalMs;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`watchIntervalMs must be a positive number, got ${intervalMs}`);
  }
  const known = new Set(["", ...serviceNames]);

  async function read(signal: AbortSignal): Promise<ServingStatus> {
    try {
      return await source.check(signal);
    } catch (error) {
      // A canceled call is not an unhealthy server; let the cancellation through.
      if (signal.aborted) throw error;
      return "NOT_SERVING";
    }
  }

  router.service(Health, {
    async check(request, context) {
      if (!known.has(request.service)) {
        throw new ConnectError(`unknown service ${request.service}`, Code.NotFound);
      }
      return { status: toWire(await read(context.signal)) };
    },

    async list(_request, context) {
      const status = toWire(await read(context.signal));
      return { statuses: Object.fromEntries([...known].map((name) => [name, { status }])) };
    },

    async *watch(request, context) {
      const signal = context.signal;
      if (!known.has(request.service)) {
        // The proto asks to keep the call open for a service that may appear
        // later; ours never do, so the call just waits for the client to leave.
        yield { status: HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN };
        await aborted(signal);
        return;
      }
      let last = await read(signal);
      yield { status: toWire(last) };
      while (await sleep(intervalMs, signal)) {
        const now = await read(signal);
        if (signal.aborted) return;
        if (now !== last) {
          last = now;
          yield { status: toWire(now) };
        }
      }
    },
  });
}

function toWire(status: ServingStatus): HealthCheckResponse_ServingStatus {
  return status === "SERVING" ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING;
}

/** Waits `ms`; resolves true when the time is up, false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const done = (elapsed: boolean): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(elapsed);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
