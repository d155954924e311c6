import type { Sleep } from "./abortable-sleep.ts";
import type { ClientLogger } from "./client-logger.ts";
import type { ConnectionStatus } from "./create-nexus-client.ts";
import { NexusClientError, toNexusClientError } from "./nexus-client-error.ts";

/** Options of `waitForActive`. */
export interface WaitForActiveOptions {
  /** Stops waiting: the promise rejects with the signal's reason at once, leaving no timer behind. */
  readonly signal?: AbortSignal;
  /** The first pause between checks. @default 1000 */
  readonly intervalMs?: number;
  /** Pauses grow by half each time up to this. @default 10000 */
  readonly maxIntervalMs?: number;
  /** Gives up after this long with reason `deadline_exceeded`. @default no limit */
  readonly timeoutMs?: number;
}

/** What {@linkcode waitForActive} needs from its client. */
export interface WaitForActiveDeps {
  readonly now: () => number;
  readonly random: () => number;
  readonly sleep: Sleep;
  readonly logger: Required<ClientLogger>;
}

// The statuses that will never become active, and the reason the Gateway uses for each.
const terminal: Record<string, string> = { failed: "connection_failed", attention_required: "attention_required", revoked: "connection_revoked" };

/**
 * Polls `check` until the connection is `active`. Pauses grow (×1.5 up to
 * `maxIntervalMs`) with jitter, so many agents waiting on one Gateway do not
 * poll in step. `failed`, `attention_required` and `revoked` reject with that
 * reason (the status reason, such as `access_denied`, is in
 * `metadata.status_reason`). A transient error (the Gateway briefly away) is
 * logged and polling goes on; any other error rejects.
 */
export async function waitForActive(
  check: (signal: AbortSignal | undefined, timeoutMs: number | undefined) => Promise<ConnectionStatus>,
  options: WaitForActiveOptions,
  deps: WaitForActiveDeps,
): Promise<ConnectionStatus> {
  const { signal } = options;
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : deps.now() + options.timeoutMs;
  const maxInterval = options.maxIntervalMs ?? 10_000;
  let interval = Math.min(options.intervalMs ?? 1000, maxInterval);
  let last = "unknown";
  const timedOut = () =>
    new NexusClientError(`deadline_exceeded: the connection is still ${last} after ${options.timeoutMs} ms`, {
      code: "deadline_exceeded", reason: "deadline_exceeded", metadata: { status: last },
    });
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    const remaining = deadline - deps.now();
    if (remaining <= 0) throw timedOut();
    try {
      const current = await check(signal, Number.isFinite(remaining) ? Math.ceil(remaining) : undefined);
      last = current.status;
      if (current.status === "active") return current;
      const reason = terminal[current.status];
      if (reason !== undefined) {
        throw new NexusClientError(`${reason}: the connection is ${current.status}${current.reason === "" ? "" : ` (${current.reason})`}`, {
          code: "failed_precondition", reason, metadata: { status: current.status, status_reason: current.reason },
        });
      }
      if (current.status !== "pending") {
        throw new NexusClientError(`unknown_status: the Gateway reported status "${current.status}"`, { code: "unknown", reason: "unknown_status" });
      }
    } catch (thrown) {
      if (signal?.aborted) throw signal.reason;
      const error = toNexusClientError(thrown);
      if (error.code === "deadline_exceeded" && deps.now() >= deadline) throw timedOut();
      if (!error.retryable) throw error;
      deps.logger.warn("checking the connection failed; still waiting", { reason: error.reason });
    }
    const pause = Math.min(interval * (0.5 + deps.random() * 0.5), deadline - deps.now());
    if (pause <= 0) throw timedOut();
    await deps.sleep(pause, signal);
    interval = Math.min(maxInterval, interval * 1.5);
  }
}
