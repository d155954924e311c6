import * as http2 from "node:http2";
import type { NodeServerResponse } from "./node-request-handler.ts";

function errorBody(code: string, message: string): string {
  return JSON.stringify({ code, message: `${code}: ${message}` });
}

/**
 * Answers an HTTP/2 stream with a Connect JSON error and, if the client is
 * still sending, resets it with NO_ERROR, which RFC 9113 §8.1 defines as
 * "stop sending, the response is complete". close() sends the reset only once
 * the response has gone out. Once a response has started, a CANCEL reset is
 * all that is left.
 */
export function answerStreamAndStop(stream: http2.ServerHttp2Stream, status: number, code: string, message: string): void {
  const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL } = http2.constants;
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(NGHTTP2_CANCEL);
    return;
  }
  const body = errorBody(code, message);
  stream.respond({ ":status": status, "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  stream.end(body);
  if (!stream.state?.remoteClose) stream.close(NGHTTP2_NO_ERROR);
}

/**
 * Answers a request with a Connect JSON error without the app: HTTP/1.1 with
 * `connection: close` (Node then closes the connection after it), HTTP/2 as
 * {@linkcode answerStreamAndStop}.
 */
export function answerAndStop(res: NodeServerResponse, status: number, code: string, message: string): void {
  if ("stream" in res) {
    answerStreamAndStop(res.stream, status, code, message);
    return;
  }
  const body = errorBody(code, message);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), connection: "close" });
  res.end(body);
}
