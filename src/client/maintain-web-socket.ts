import { abortableSleep, platformTimers, type Timers } from "./abortable-sleep.ts";
import { acquireCredential, isPermanentFailure } from "./acquire-credential.ts";
import { backoffDelay } from "./backoff-delay.ts";
import { type ClientLogger, completeLogger } from "./client-logger.ts";
import type { ClientMetrics } from "./client-metrics.ts";
import type { NexusClient } from "./create-nexus-client.ts";
import type { Credential } from "./credential.ts";
import { toNexusClientError } from "./nexus-client-error.ts";
import { createRotationSchedule } from "./rotation-schedule.ts";
import { type LiveSocket, openLiveSocket, retireLiveSocket } from "./open-live-socket.ts";
import { defaultWebSocketFactory, type WebSocketFactory, type WebSocketLike } from "./web-socket-factory.ts";

/** Why a socket closed: the server or network (`remote`), a credential rotation, or the caller stopping the loop. */
export interface WebSocketCloseInfo {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  readonly cause: "remote" | "rotation" | "stop";
}

/** Callbacks of {@linkcode maintainWebSocket}; a handler that throws is logged and ignored. */
export interface WebSocketHandlers<S extends WebSocketLike = WebSocketLike> {
  /** A socket opened: the first one, a reconnect, or a rotation's new socket (the old one closes next). */
  onOpen?(socket: S): void;
  onMessage?(data: unknown, socket: S): void;
  onClose?(info: WebSocketCloseInfo): void;
  /** A transient failure the loop recovers from: a socket error, a failed handshake or credential fetch. */
  onError?(error: unknown): void;
}

/** Options of {@linkcode maintainWebSocket}. */
export interface MaintainWebSocketOptions<S extends WebSocketLike = WebSocketLike> {
  readonly client: Pick<NexusClient, "getToken" | "refresh">;
  readonly connectionId: string;
  /** `wss://…`; a query_param credential is added to it. */
  readonly url: string;
  readonly protocols?: string[];
  readonly handlers: WebSocketHandlers<S>;
  /** Stops the loop: the socket is closed, every timer cleared, and the promise resolves. */
  readonly signal: AbortSignal;
  /** @default globalThis.WebSocket when it can send headers; on Node 20 pass a `ws` factory */
  readonly webSocket?: WebSocketFactory<S>;
  /** Reconnect waits: full jitter up to `initialMs * 2^n`, at most `maxMs`; reset after a socket stayed open `stableMs`. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number; readonly stableMs?: number };
  /** Open a new socket with a fresh credential this long before the current one expires. @default 60 */
  readonly refreshBeforeExpirySeconds?: number;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly timers?: Timers;
  readonly logger?: ClientLogger;
  readonly metrics?: ClientMetrics;
}

type LoopEvent<S> = { type: "closed"; live: LiveSocket<S> } | { type: "rotate" } | { type: "abort" };

/**
 * Keeps an authenticated WebSocket open until `signal` aborts. It fetches the
 * connection's credential, puts it in the handshake (headers, or the URL for
 * query_param) and connects. On a close or error it reconnects with
 * exponential backoff and full jitter; a failed credential fetch is retried
 * the same way, and only a permanent answer (attention_required,
 * connection_revoked, a strategy that cannot be applied, ...) ends the loop,
 * rejecting with that error. Before the credential expires it opens a NEW
 * socket with a fresh credential and then closes the old one, so the server
 * always sees a current credential.
 */
export async function maintainWebSocket<S extends WebSocketLike = WebSocketLike>(options: MaintainWebSocketOptions<S>): Promise<void> {
  const { client, connectionId, signal, handlers, metrics } = options;
  const factory = options.webSocket ?? (defaultWebSocketFactory() as WebSocketFactory<S>);
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const timers = options.timers ?? platformTimers;
  const logger = completeLogger(options.logger);
  const bounds = { initialMs: options.backoff?.initialMs ?? 500, maxMs: options.backoff?.maxMs ?? 30_000 };
  const stableMs = options.backoff?.stableMs ?? 10_000;
  const marginMs = (options.refreshBeforeExpirySeconds ?? 60) * 1000;
  const where = { connection_id: connectionId, endpoint: redacted(options.url) };
  if (signal.aborted) return;

  const events: LoopEvent<S>[] = [];
  let wake: (() => void) | undefined;
  const push = (event: LoopEvent<S>) => {
    events.push(event);
    wake?.();
  };
  const nextEvent = async (): Promise<LoopEvent<S>> => {
    while (events.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
    return events.shift()!;
  };
  const onAbort = () => push({ type: "abort" });
  signal.addEventListener("abort", onAbort);

  const rotation = createRotationSchedule({ timers, now, marginMs, onDue: () => push({ type: "rotate" }) });

  // An abort ends the wait early (and clears its timer); the loop condition then stops the loop.
  const pause = (ms: number) => abortableSleep(ms, signal, timers).catch(() => undefined);

  const report = (error: unknown, message: string) => {
    const e = toNexusClientError(error);
    logger.warn(message, { ...where, reason: e.reason, error: e.message });
    safely(() => handlers.onError?.(error));
  };

  const safely = (run: () => void) => {
    try {
      run();
    } catch (error) {
      logger.error("a maintainWebSocket handler threw", { ...where, error });
    }
  };

  const acquire = (previous: Credential | undefined) => acquireCredential(client, connectionId, { ...(previous === undefined ? {} : { previous }), signal });

  const socketContext = {
    url: options.url, protocols: options.protocols ?? [], factory, signal, now, handlers, logger, where, report, safely,
    onRemoteClose: (closed: LiveSocket<S>) => push({ type: "closed", live: closed }),
  };
  const open = (credential: Credential) => openLiveSocket(credential, socketContext);
  const retire = (target: LiveSocket<S>, cause: "rotation" | "stop") => retireLiveSocket(target, cause, timers);

  let live: LiveSocket<S> | undefined;
  let failures = 0;
  let rotationFailures = 0;
  try {
    while (!signal.aborted) {
      if (live === undefined) {
        try {
          live = await open(await acquire(undefined));
          rotationFailures = 0;
          rotation.plan(live.credential);
        } catch (error) {
          if (signal.aborted) break;
          if (isPermanentFailure(error)) throw error;
          report(error, "websocket connect failed; retrying");
          metrics?.reconnect();
          await pause(backoffDelay(failures++, bounds, random));
        }
        continue;
      }
      const event = await nextEvent();
      if (event.type === "abort") break;
      if (event.type === "closed") {
        if (event.live !== live) continue;
        rotation.clear();
        if (now() - live.openedAt >= stableMs) failures = 0;
        live = undefined;
        metrics?.reconnect();
        const delay = backoffDelay(failures++, bounds, random);
        logger.info("websocket closed; reconnecting", { ...where, delay_ms: delay });
        await pause(delay);
        continue;
      }
      if (rotation.early()) {
        rotation.rearm();
        continue;
      }
      try {
        const next = await open(await acquire(live.credential));
        void retire(live, "rotation");
        live = next;
        rotationFailures = 0;
        rotation.plan(next.credential);
        logger.info("websocket re-authenticated with a fresh credential", where);
      } catch (error) {
        if (signal.aborted) break;
        if (isPermanentFailure(error)) throw error;
        report(error, "credential rotation failed; keeping the current socket and retrying");
        rotation.retryIn(backoffDelay(rotationFailures++, bounds, random));
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    rotation.clear();
    if (live !== undefined) await retire(live, "stop");
  }
}

/** The endpoint without its query, which may hold a query_param credential. */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}
