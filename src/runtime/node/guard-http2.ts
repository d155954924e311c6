import * as http2 from "node:http2";
import type { ServerLimits } from "../../shared/server-limits.ts";
import { answerStreamAndStop } from "./answer-and-stop.ts";
import { lingerMs } from "./close-with-response.ts";
import type { TrackedConnection } from "./connection-registry.ts";
import type { ServerMetrics } from "./server-metrics.ts";

/**
 * The settings of the HTTP/2 server. nghttp2 enforces the stream cap itself:
 * a stream beyond it that arrives before the client acknowledged our SETTINGS
 * is refused (RST_STREAM REFUSED_STREAM); one after is a protocol error that
 * ends that client's session with GOAWAY. Other sessions never notice.
 */
export function http2ServerOptions(limits: ServerLimits, maxHeaderBytes: number): http2.ServerOptions {
  return {
    maxSessionMemory: limits.http2MaxSessionMemoryMb,
    settings: { maxConcurrentStreams: limits.http2MaxConcurrentStreams, maxHeaderListSize: maxHeaderBytes },
  };
}

/**
 * Enforces the session idle timeout and the per-stream request timeout on an
 * HTTP/2 session. A session without streams is idle: the first closed at the
 * connection cap, and closed with GOAWAY after `http2IdleTimeoutMs` (PINGs
 * do not count as activity). A stream whose request has not fully arrived
 * (no END_STREAM) within `requestTimeoutMs` of its HEADERS is answered 408
 * and reset, which also bounds streams held half-open; a stream whose request
 * is complete may take as long as its handler does (a server-streaming
 * response, for example).
 */
export function guardHttp2(connection: TrackedConnection, session: http2.ServerHttp2Session, limits: ServerLimits, metrics: ServerMetrics): void {
  let open = 0;
  const goAway = (): void => {
    if (session.destroyed) return;
    session.close();
    // A client that does not read cannot take our GOAWAY: do not wait on it.
    setTimeout(() => session.destroy(), lingerMs).unref();
  };
  const idle = (): void => {
    connection.idle();
    connection.deadline(limits.http2IdleTimeoutMs, () => {
      metrics.closed("http2_idle_timeout");
      goAway();
    });
  };
  connection.evict = goAway;
  idle();

  session.on("stream", (stream) => {
    open++;
    connection.busy();
    connection.clearDeadline();
    // A request whose HEADERS carried END_STREAM (a GET) has arrived whole: nothing to time.
    const timer = stream.endAfterHeaders ? undefined : setTimeout(() => {
      if (requestTimedOut(stream, limits.requestTimeoutMs)) metrics.streamTimedOut();
    }, limits.requestTimeoutMs);
    timer?.unref();
    stream.once("close", () => {
      clearTimeout(timer);
      open--;
      if (open === 0 && !session.closed && !session.destroyed) idle();
    });
  });
}

/** Ends a stream whose request is still arriving; false when it has arrived after all. */
function requestTimedOut(stream: http2.ServerHttp2Stream, ms: number): boolean {
  // remoteClose: END_STREAM has arrived, whether or not the handler has read the body yet.
  if (stream.destroyed || stream.closed || stream.state?.remoteClose) return false;
  answerStreamAndStop(stream, 408, "deadline_exceeded", `the request body did not arrive within ${ms} ms`);
  return true;
}
