/**
 * A real gRPC server (connect-node over node:http2, prior knowledge) serving
 * FeedService as a third-party streaming API would: every stream must carry
 * an accepted credential in its metadata (`authorization` or `x-api-key`),
 * and the credential is checked again on every tick, so a stream whose token
 * stops being accepted ends with UNAUTHENTICATED. It records every stream,
 * every refusal and every HTTP/2 session, and can go down and come back on
 * the same port.
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { type ConverseRequest, FeedService } from "./feed-service.ts";

/** One accepted stream, as the server saw it. */
export interface ServedStream {
  readonly id: number;
  readonly method: "subscribe" | "converse";
  /** The credential metadata it was opened with. */
  readonly credential: string;
  readonly openedAt: number;
  /** Messages sent on it. */
  sent: number;
  /** Messages received on it (bidi). */
  readonly received: string[];
  /** How it ended: the client cancelled, the token was no longer accepted, the server went down, or the call finished. */
  end: "cancelled" | "unauthenticated" | "shutdown" | "ok" | undefined;
  endedAt: number | undefined;
}

/** A running feed server. */
export interface FeedServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly streams: ServedStream[];
  /** Credentials refused when a stream opened. */
  readonly refused: string[];
  /** Whether a credential is accepted: asked when a stream opens and on every tick after. */
  authorize: (credential: string) => boolean | Promise<boolean>;
  /** Milliseconds between two events of a subscription (and two credential checks). */
  tickMs: number;
  /** HTTP/2 sessions (client connections) open now. */
  sessions(): number;
  /** Streams still running. */
  open(): ServedStream[];
  /** Goes down like a crashed server: every session destroyed, the port closed. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a feed server on 127.0.0.1 with an ephemeral port. */
export async function startFeedServer(): Promise<FeedServer> {
  const sessions = new Set<http2.ServerHttp2Session>();
  let server: http2.Http2Server | undefined;
  let port = 0;

  const accept = async (method: ServedStream["method"], ctx: HandlerContext): Promise<ServedStream> => {
    const credential = ctx.requestHeader.get("authorization") ?? ctx.requestHeader.get("x-api-key") ?? "";
    if (!(await feed.authorize(credential))) {
      feed.refused.push(credential);
      throw new ConnectError("the credential is not accepted", Code.Unauthenticated);
    }
    const record: ServedStream = {
      id: feed.streams.length + 1, method, credential, openedAt: Date.now(), sent: 0, received: [], end: undefined, endedAt: undefined,
    };
    feed.streams.push(record);
    ctx.signal.addEventListener("abort", () => finish(record, "cancelled"));
    return record;
  };
  const finish = (record: ServedStream, end: NonNullable<ServedStream["end"]>) => {
    if (record.end !== undefined) return;
    record.end = end;
    record.endedAt = Date.now();
  };
  const refuseIfRevoked = async (record: ServedStream) => {
    if (await feed.authorize(record.credential)) return;
    finish(record, "unauthenticated");
    throw new ConnectError("the credential this stream was opened with is no longer accepted", Code.Unauthenticated);
  };

  const handler = connectNodeAdapter({
    grpc: true, grpcWeb: false, connect: false,
    routes: (router) => router.service(FeedService, {
      async *subscribe(request, ctx) {
        const record = await accept("subscribe", ctx);
        for (;;) {
          record.sent++;
          yield { stream: record.id, seq: record.sent, topic: request.topic };
          await tick(feed.tickMs, ctx.signal);
          await refuseIfRevoked(record);
        }
      },
      async *converse(requests, ctx) {
        const record = await accept("converse", ctx);
        const incoming = requests[Symbol.asyncIterator]();
        let next: Promise<IteratorResult<ConverseRequest>> | undefined;
        for (;;) {
          next ??= incoming.next();
          const got = await Promise.race([next, tick(feed.tickMs, ctx.signal).then(() => "tick" as const)]);
          await refuseIfRevoked(record);
          if (got === "tick") continue;
          next = undefined;
          if (got.done === true) break;
          record.received.push(got.value.text);
          record.sent++;
          yield { stream: record.id, seq: record.sent, text: `echo:${got.value.text}` };
        }
        finish(record, "ok");
      },
    }),
  });

  const listen = async () => {
    const s = http2.createServer(handler);
    s.on("session", (session) => {
      sessions.add(session);
      session.on("close", () => sessions.delete(session));
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const down = async () => {
    const s = server;
    server = undefined;
    if (s === undefined) return;
    for (const record of feed.open()) finish(record, "shutdown");
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  const feed: FeedServer = {
    url: `http://127.0.0.1:${port}`,
    streams: [],
    refused: [],
    authorize: () => true,
    tickMs: 50,
    sessions: () => sessions.size,
    open: () => feed.streams.filter((s) => s.end === undefined),
    stop: down,
    start: listen,
    close: down,
  };
  return feed;
}

/** Waits `ms`; a call that ends meanwhile ends the wait (and its timer) at once. */
function tick(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", done);
      resolve();
    }, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
