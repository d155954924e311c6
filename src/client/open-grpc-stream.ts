import type { DescService } from "@bufbuild/protobuf";
import { type Client, ConnectError } from "@connectrpc/connect";
import type { Credential } from "./credential.ts";
import { credentialHeaders } from "./credential-headers.ts";
import type { GrpcStreamCall, GrpcStreamCloseInfo, GrpcStreamInfo } from "./maintain-grpc-stream.ts";
import { NexusClientError } from "./nexus-client-error.ts";

/** A stream of maintainGrpcStream and the credential it was opened with. */
export interface LiveGrpcStream {
  readonly info: GrpcStreamInfo;
  readonly credential: Credential;
  readonly openedAt: number;
  /** The server answered (response headers or a first message) and onOpen was called. */
  opened: boolean;
  /** A message arrived: the stream works, a rotation can switch to it. */
  delivering: boolean;
  /** Set when the loop cancels it on purpose, so its end is not taken for a failure. */
  retired: "rotation" | "stop" | undefined;
  readonly controller: AbortController;
  /** Settles once the stream has ended and its last message has been handled. */
  finished: Promise<void>;
}

/** What opening a stream needs from the loop. */
export interface GrpcStreamContext<S extends DescService, O> {
  readonly rpc: Client<S>;
  readonly open: (client: Client<S>, call: GrpcStreamCall, info: GrpcStreamInfo) => AsyncIterable<O>;
  readonly now: () => number;
  /** Hands a message to the caller; resolves once the caller's handler has finished with it. */
  deliver(message: O, live: LiveGrpcStream): Promise<void>;
  /** The server answered: response headers or a first message. */
  onOpened(live: LiveGrpcStream): void;
  /** The first message arrived. */
  onDelivering(live: LiveGrpcStream): void;
  /** A stream that onOpen announced has closed, for whatever cause. */
  onClosed(info: GrpcStreamCloseInfo): void;
  /** The stream ended without the loop retiring it: `error` is undefined for an OK status. */
  onEnded(live: LiveGrpcStream, error: ConnectError | undefined): void;
}

/**
 * Starts a call through the caller's `open` with `credential` in its metadata
 * and reads it in the background, handing each message to `ctx.deliver` and
 * waiting for it before reading the next (so a slow handler slows the stream
 * rather than piling messages up). Every message the transport yields is
 * delivered, also after a rotation cancelled the stream. Throws, before
 * anything is sent, when the credential cannot travel as metadata
 * (`unsupported_strategy`, ...) or `open` itself throws (`grpc_stream_failed`).
 */
export function openGrpcStream<S extends DescService, O>(credential: Credential, id: number, ctx: GrpcStreamContext<S, O>): LiveGrpcStream {
  const headers = credentialHeaders(credential);
  const controller = new AbortController();
  const info: GrpcStreamInfo = { id, ...(credential.expiresAt === undefined ? {} : { expiresAt: credential.expiresAt }) };
  const live: LiveGrpcStream = {
    info, credential, openedAt: ctx.now(), opened: false, delivering: false, retired: undefined, controller, finished: Promise.resolve(),
  };
  const announce = () => {
    if (live.opened || live.retired !== undefined) return;
    live.opened = true;
    ctx.onOpened(live);
  };
  let responses: AsyncIterable<O>;
  try {
    responses = ctx.open(ctx.rpc, { headers, signal: controller.signal, onHeader: announce }, info);
  } catch (error) {
    controller.abort();
    throw new NexusClientError(`grpc_stream_failed: the open function threw: ${error instanceof Error ? error.message : String(error)}`, {
      code: "invalid_argument", reason: "grpc_stream_failed", cause: error,
    });
  }
  live.finished = (async () => {
    let failure: ConnectError | undefined;
    try {
      const iterator = responses[Symbol.asyncIterator]();
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
        announce();
        if (!live.delivering && live.retired === undefined) {
          live.delivering = true;
          ctx.onDelivering(live);
        }
        await ctx.deliver(next.value, live);
      }
    } catch (error) {
      failure = ConnectError.from(error);
    } finally {
      // A bidi request stream that waits on this signal ends with the call.
      controller.abort();
    }
    const remoteFailure = live.retired === undefined && failure !== undefined ? { error: failure } : {};
    if (live.opened) ctx.onClosed({ ...info, cause: live.retired ?? "remote", ...remoteFailure });
    if (live.retired === undefined) ctx.onEnded(live, failure);
  })();
  return live;
}

/** Cancels a stream on purpose; resolves once its reader has finished. */
export function retireGrpcStream(live: LiveGrpcStream, cause: "rotation" | "stop"): Promise<void> {
  live.retired ??= cause;
  live.controller.abort();
  return live.finished;
}
