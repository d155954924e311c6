/**
 * Follows a connection until it settles: CheckConnection once a second until
 * the status is final, then GetToken when it is active. The Broker activates
 * a connection before redirecting back, so the first check normally settles;
 * polling covers a slow callback and keeps the status on screen live.
 */
import type { Credential } from "../../gen/nexus/common/v1/credential_pb.ts";
import type { GatewayClient } from "./gateway-client.ts";

/** Statuses after which a connection does not change by itself. */
const finalStatuses = new Set(["active", "failed", "attention_required", "revoked"]);

/** Whether `status` is final. */
export function isFinal(status: string): boolean {
  return finalStatuses.has(status);
}

/** Callbacks of {@linkcode watchConnection}. */
export interface WatchEvents {
  /** Each status seen, with its reason for `failed` and `attention_required`. */
  status(status: string, reason: string): void;
  /** The credential of an active connection. */
  credential(credential: Credential | undefined): void;
}

/** Options of {@linkcode watchConnection}. */
export interface WatchOptions {
  /** Between checks. @default 1000 */
  readonly intervalMs?: number;
  /** Give up (the status stays `pending`) after this long. @default 300000 */
  readonly maxMs?: number;
  /** Stops the watch, for example when the user starts another connection. */
  readonly signal: AbortSignal;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Watches connection `id`. Resolves with the last status seen; a failed call
 * rejects (the caller explains it), an aborted watch resolves quietly.
 */
export async function watchConnection(client: GatewayClient, id: string, events: WatchEvents, options: WatchOptions): Promise<string> {
  const { signal } = options;
  const deadline = Date.now() + (options.maxMs ?? 300_000);
  let last = "";
  while (!signal.aborted) {
    const { status, reason } = await client.checkConnection({ connectionId: id }, { signal });
    if (signal.aborted) break;
    if (status !== last) events.status(status, reason);
    last = status;
    if (status === "active") {
      const { credential } = await client.getToken({ connectionId: id }, { signal });
      if (!signal.aborted) events.credential(credential);
      break;
    }
    if (isFinal(status) || Date.now() >= deadline) break;
    await sleep(options.intervalMs ?? 1000, signal);
  }
  return last;
}
