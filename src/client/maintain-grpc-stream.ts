import type { DescService } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { abortableSleep, platformTimers, type Timers } from "./abortable-sleep.ts";
import { acquireCredential, isPermanentFailure } from "./acquire-credential.ts";
import { backoffDelay } from "./backoff-delay.ts";
import { type ClientLogger, completeLogger } from "./client-logger.ts";
import type { ClientMetrics } from "./client-metrics.ts";
import type { NexusClient } from "./create-nexus-client.ts";
import type { Credential } from "./credential.ts";
import { NexusClientError, toNexusClientError } from "./nexus-client-error.ts";
import { type GrpcStreamContext, type LiveGrpcStream, openGrpcStream, retireGrpcStream } from "./open-grpc-stream.ts";
import { createRotationSchedule } from "./rotation-schedule.ts";

/** One stream of {@linkcode maintainGrpcStream}. */
export interface GrpcStreamInfo {
  /** 1 for the first stream the loop opens, then 2, 3, ...: tells the two streams of a rotation apart. */
  readonly id: number;
  /** When the stream's credential expires, unix seconds; absent when it does not. */
  readonly expiresAt?: number;
}

/** Why a stream closed: the server or network (`remote`), a credential rotation, or the caller stopping the loop. */
export interface GrpcStreamCloseInfo extends GrpcStreamInfo {
  readonly cause: "remote" | "rotation" | "stop";
  /** The status a `remote` close failed with; absent when the server ended the stream with OK. */
  readonly error?: ConnectError;
}

/**
 * The call options `open` passes to the RPC: the credential's metadata
 * (`authorization`, or the provider's header), the stream's own signal, and
 * the callback that announces the stream (onOpen) when the server answers. Pass it as
 * is; to add metadata, spread it: `{ ...call, headers: { ...call.headers, "x-tenant": "a" } }`.
 */
export interface GrpcStreamCall {
  readonly headers: Record<string, string>;
  readonly signal: AbortSignal;
  onHeader(headers: Headers): void;
}

/** Callbacks of {@linkcode maintainGrpcStream}; a handler that throws (or rejects) is logged and ignored. */
export interface GrpcStreamHandlers<O> {
  /** The server accepted a stream (response headers or a first message): the first, a reopened one, or a rotation's new stream. */
  onOpen?(info: GrpcStreamInfo): void;
  /**
   * A message, with the stream it came on. Calls never overlap; the next
   * message is read only after the promise a handler returns settles, so a
   * slow consumer slows the server down instead of filling memory.
   */
  onMessage?(message: O, info: GrpcStreamInfo): void | Promise<void>;
  /** A stream onOpen announced has closed. */
  onClose?(info: GrpcStreamCloseInfo): void;
  /** A failure the loop recovers from: a stream's error status, a refused rotation, a failed credential fetch. */
  onError?(error: unknown): void;
}

/** Options of {@linkcode maintainGrpcStream}. */
export interface MaintainGrpcStreamOptions<S extends DescService, O> {
  readonly client: Pick<NexusClient, "getToken" | "refresh">;
  readonly connectionId: string;
  /** A transport to the PROVIDER's service, e.g. `grpcTransport("https://stream.acme.example")` from `@nexus-broker/client/node`. */
  readonly transport: Transport;
  /** The generated service, e.g. `FeedService` from `./gen/acme/feed/v1/feed_pb.ts`. */
  readonly service: S;
  /**
   * Starts one call, server-streaming or bidirectional, with `call` as its
   * options: `(feed, call) => feed.subscribe({ topic: "orders" }, call)`.
   * Called for every stream the loop opens. A bidirectional call's request
   * iterable should end when `call.signal` aborts.
   */
  readonly open: (client: Client<S>, call: GrpcStreamCall, info: GrpcStreamInfo) => AsyncIterable<O>;
  readonly handlers: GrpcStreamHandlers<O>;
  /** Stops the loop: every stream is cancelled, every timer cleared, and the promise resolves. */
  readonly signal: AbortSignal;
  /** Reopen waits: full jitter up to `initialMs * 2^n`, at most `maxMs`; reset after a stream stayed open `stableMs`. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number; readonly stableMs?: number };
  /** Open a new stream with a fresh credential this long before the current one expires. @default 60 */
  readonly refreshBeforeExpirySeconds?: number;
  /** Whether a stream that failed with `error` is reopened. @default every code but those a retry cannot fix (see the docs) */
  readonly retryable?: (error: ConnectError) => boolean;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly timers?: Timers;
  readonly logger?: ClientLogger;
  readonly metrics?: ClientMetrics;
}

type LoopEvent =
  | { type: "delivering"; live: LiveGrpcStream }
  | { type: "ended"; live: LiveGrpcStream; error: ConnectError | undefined }
  | { type: "due" }
  | { type: "abort" };

// Codes that say the request itself is wrong: the same call with any credential gets the same answer.
const finalCodes = new Set([
  Code.InvalidArgument, Code.NotFound, Code.AlreadyExists, Code.PermissionDenied, Code.FailedPrecondition, Code.OutOfRange, Code.Unimplemented, Code.DataLoss,
]);

/**
 * Keeps a server-streaming or bidirectional gRPC call to a provider's service
 * open and authenticated until `signal` aborts. It fetches the connection's
 * credential, puts it in the call's metadata and opens the call through
 * `open`. Make before break: before the credential expires it opens a NEW
 * stream with a fresh credential, and cancels the old one once a message
 * arrives on the new one (a silent server: once the old credential expires);
 * until then messages of both are delivered, each with its stream. A
 * stream ending with UNAUTHENTICATED is reopened at once with a refreshed
 * credential; other ends (UNAVAILABLE, a dropped connection, an OK status)
 * after a backoff with full jitter. A failed credential fetch is retried the
 * same way. The loop ends, rejecting, only on a permanent answer: a Nexus one
 * (attention_required, connection_revoked, a strategy metadata cannot carry)
 * or a status no retry can fix (`grpc_stream_failed`).
 */
export async function maintainGrpcStream<S extends DescService, O>(options: MaintainGrpcStreamOptions<S, O>): Promise<void> {
  const { client, connectionId, signal, handlers, metrics } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const timers = options.timers ?? platformTimers;
  const logger = completeLogger(options.logger);
  const retryable = options.retryable ?? ((error: ConnectError) => !finalCodes.has(error.code));
  const bounds = { initialMs: options.backoff?.initialMs ?? 500, maxMs: options.backoff?.maxMs ?? 30_000 };
  const stableMs = options.backoff?.stableMs ?? 10_000;
  const marginMs = (options.refreshBeforeExpirySeconds ?? 60) * 1000;
  const where = { connection_id: connectionId, service: options.service.typeName };
  if (signal.aborted) return;

  const events: LoopEvent[] = [];
  let wake: (() => void) | undefined;
  const push = (event: LoopEvent) => {
    events.push(event);
    wake?.();
  };
  const nextEvent = async (): Promise<LoopEvent> => {
    while (events.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
    return events.shift()!;
  };
  const onAbort = () => push({ type: "abort" });
  signal.addEventListener("abort", onAbort);

  // One timer: the rotation while a single stream runs, and the latest switch-over while a new one is being opened.
  const rotation = createRotationSchedule({ timers, now, marginMs, onDue: () => push({ type: "due" }) });
  const pause = (ms: number) => (ms <= 0 ? Promise.resolve() : abortableSleep(ms, signal, timers).catch(() => undefined));

  const safely = (run: () => unknown) => {
    try {
      const result = run();
      if (result instanceof Promise) return result.catch((error: unknown) => logger.error("a maintainGrpcStream handler rejected", { ...where, error }));
    } catch (error) {
      logger.error("a maintainGrpcStream handler threw", { ...where, error });
    }
    return undefined;
  };
  const report = (error: unknown, message: string, fields: Record<string, unknown> = {}) => {
    const reason = error instanceof ConnectError ? Code[error.code] : toNexusClientError(error).reason;
    logger.warn(message, { ...where, ...fields, reason, error: error instanceof Error ? error.message : String(error) });
    safely(() => handlers.onError?.(error));
  };

  let nextId = 1;
  let current: LiveGrpcStream | undefined;
  let candidate: LiveGrpcStream | undefined;
  let failures = 0;
  let rotationFailures = 0;
  let refreshNext = false;
  let refreshNextRotation = false;

  // Messages of every stream go through one chain, so handler calls never overlap.
  let delivery = Promise.resolve();
  const running = new Set<LiveGrpcStream>();
  const ctx: GrpcStreamContext<S, O> = {
    rpc: createClient(options.service, options.transport),
    open: options.open,
    now,
    deliver: (message, live) => (delivery = delivery.then(async () => {
      if (!signal.aborted) await safely(() => handlers.onMessage?.(message, live.info));
    })),
    onOpened: (live) => {
      logger.info("grpc stream open", { ...where, stream: live.info.id });
      safely(() => handlers.onOpen?.(live.info));
    },
    onDelivering: (live) => push({ type: "delivering", live }),
    onClosed: (info) => safely(() => handlers.onClose?.(info)),
    onEnded: (live, error) => push({ type: "ended", live, error }),
  };
  const open = async (previous: Credential | undefined, force: boolean) => {
    const credential = await acquireCredential(client, connectionId, { ...(previous === undefined ? {} : { previous }), force, signal });
    if (signal.aborted) throw signal.reason;
    const live = openGrpcStream(credential, nextId++, ctx);
    running.add(live);
    void live.finished.then(() => running.delete(live));
    return live;
  };

  // The new stream takes over: the schedule follows its credential, the old one is cancelled.
  const promote = (why: string) => {
    const old = current;
    current = candidate!;
    candidate = undefined;
    rotationFailures = 0;
    refreshNextRotation = false;
    rotation.plan(current.credential);
    if (old !== undefined) void retireGrpcStream(old, "rotation");
    logger.info("grpc stream re-authenticated with a fresh credential", { ...where, stream: current.info.id, from: old?.info.id, why });
  };

  try {
    while (!signal.aborted) {
      if (current === undefined) {
        try {
          current = await open(undefined, refreshNext);
          rotationFailures = 0;
          rotation.plan(current.credential);
        } catch (error) {
          if (signal.aborted) break;
          if (isPermanentFailure(error)) throw error;
          report(error, "grpc stream: credential fetch failed; retrying");
          metrics?.reconnect();
          await pause(backoffDelay(failures++, bounds, random));
        }
        continue;
      }
      const event = await nextEvent();
      if (event.type === "abort") break;
      if (event.type === "delivering") {
        if (event.live === candidate) promote("the new stream delivers");
        continue;
      }
      if (event.type === "due") {
        if (rotation.early()) rotation.rearm();
        else if (candidate !== undefined) promote("the old credential expired");
        else await rotate(current);
        continue;
      }
      const { live, error } = event;
      if (live === candidate) {
        candidate = undefined;
        refreshNextRotation = error?.code === Code.Unauthenticated;
        const failure = error ?? new ConnectError("the new stream ended before it delivered anything", Code.Unavailable);
        report(failure, "grpc stream: the new stream failed; keeping the current one and retrying", { stream: live.info.id });
        rotation.retryIn(backoffDelay(rotationFailures++, bounds, random));
        continue;
      }
      if (live !== current) continue;
      current = undefined;
      rotation.clear();
      if (candidate !== undefined) {
        // The old stream ended while its successor was opening: switch now, nothing to reopen.
        promote("the old stream ended");
        continue;
      }
      if (error !== undefined && !retryable(error)) throw streamFailed(error);
      if (now() - live.openedAt >= stableMs) failures = 0;
      refreshNext = error?.code === Code.Unauthenticated;
      // A refused credential is replaced at once, unless the last stream did not last either.
      const delay = refreshNext && failures === 0 ? 0 : backoffDelay(failures, bounds, random);
      failures++;
      if (error === undefined) logger.info("grpc stream ended by the server; reopening", { ...where, stream: live.info.id, delay_ms: delay });
      else {
        const message = refreshNext ? "grpc stream: credential refused; refreshing and reopening" : "grpc stream failed; reopening";
        report(error, message, { stream: live.info.id, delay_ms: delay });
      }
      metrics?.reconnect();
      await pause(delay);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    rotation.clear();
    await Promise.all([...running].map((live) => retireGrpcStream(live, "stop")));
  }

  async function rotate(old: LiveGrpcStream): Promise<void> {
    if (old.credential.expiresAt === undefined) return; // a wake-up left over from an expiring predecessor
    try {
      candidate = await open(old.credential, refreshNextRotation);
      // Switch over when the new stream is accepted, at the latest when the old credential expires.
      rotation.retryIn(Math.max(0, old.credential.expiresAt * 1000 - now()));
    } catch (error) {
      if (signal.aborted) return;
      if (isPermanentFailure(error)) throw error;
      report(error, "grpc stream: credential rotation failed; keeping the current stream and retrying");
      rotation.retryIn(backoffDelay(rotationFailures++, bounds, random));
    }
  }
}

/** The error a status no retry can fix ends the loop with; the ConnectError is its cause. */
function streamFailed(error: ConnectError): NexusClientError {
  const code = Code[error.code].replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c : `_${c}`)).toLowerCase();
  return new NexusClientError(`grpc_stream_failed: the provider's service ended the stream with ${code}: ${error.rawMessage}`, {
    code, reason: "grpc_stream_failed", cause: error,
  });
}
