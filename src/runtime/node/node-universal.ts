import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { singleChunkOf } from "../../shared/server/error-response.ts";

/** A node:http or node:http2 (compatibility API) request. */
export type NodeServerRequest = http.IncomingMessage | http2.Http2ServerRequest;
/** A node:http or node:http2 (compatibility API) response. */
export type NodeServerResponse = http.ServerResponse | http2.Http2ServerResponse;

/**
 * A Node request as the runtime-neutral app takes it. Like connect-node's
 * universalRequestFromNodeRequest, but its signal aborts only when the client
 * goes away before the response has been written: aborting every request at
 * its end builds an AbortError with a stack trace each time, a few percent of
 * a hot path's CPU. The body is the request stream itself, read only if a
 * handler asks for it.
 */
export function requestFromNode(req: NodeServerRequest, res: NodeServerResponse, contextValues: ContextValues): UniversalServerRequest {
  const authority = "authority" in req ? req.authority : req.headers.host;
  if (authority === undefined) throw new ConnectError("unable to determine request authority from Node.js server request", Code.Internal);
  const encrypted = "encrypted" in req.socket && (req.socket as { encrypted?: boolean }).encrypted === true;
  const controller = new AbortController();
  const onClose = () => {
    req.off("error", onClose);
    if (!res.writableFinished) controller.abort(new ConnectError("the client went away", Code.Canceled));
  };
  res.once("close", onClose);
  req.once("error", onClose);
  const header = new Headers();
  const headers = req.headers;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.startsWith(":")) continue;
    if (typeof value === "string") header.append(name, value);
    else for (const v of value) header.append(name, v);
  }
  return {
    httpVersion: req.httpVersion,
    method: req.method ?? "",
    url: `${encrypted ? "https" : "http"}://${authority}${req.url ?? ""}`,
    header,
    body: req as AsyncIterable<Uint8Array>,
    signal: controller.signal,
    contextValues,
  };
}

/**
 * Writes a response. A body known to be one chunk (ours, or a unary answer
 * whose first chunk is as long as its content-length) is written with the
 * headers in one piece and not awaited further; anything else streams chunk
 * by chunk, each written as it comes.
 */
export async function writeResponse(response: UniversalServerResponse, res: NodeServerResponse): Promise<void> {
  const body = response.body;
  const headers = nodeHeaders(response.header);
  const noTrailer = response.trailer === undefined || [...response.trailer.keys()].length === 0;
  // HTTP/1.1 sends trailers only after a chunked body; HTTP/2 after any (gRPC's status).
  const http2 = "stream" in res;
  const single = !noTrailer && !http2 ? undefined : body === undefined ? new Uint8Array(0) : singleChunkOf(body);
  if (single !== undefined) {
    headers["content-length"] = String(single.byteLength);
    (res as http.ServerResponse).writeHead(response.status, headers);
    if (!noTrailer) (res as http.ServerResponse).addTrailers(nodeHeaders(response.trailer));
    (res as http.ServerResponse).end(single);
    return;
  }
  const it = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  try {
    let chunk = await it.next();
    // Headers go out after the first chunk, so a handler can still set them until then.
    if (!chunk.done && noTrailer && headers["content-length"] === String(chunk.value.byteLength)) {
      (res as http.ServerResponse).writeHead(response.status, headers);
      (res as http.ServerResponse).end(chunk.value);
      return;
    }
    (res as http.ServerResponse).writeHead(response.status, headers);
    for (; chunk.done !== true; chunk = await it.next()) await write(res, chunk.value);
    if (response.trailer !== undefined) (res as http.ServerResponse).addTrailers(nodeHeaders(response.trailer));
    (res as http.ServerResponse).end();
  } finally {
    await it.return?.().catch(() => {});
  }
}

function nodeHeaders(header: Headers | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  header?.forEach((value, name) => {
    const known = out[name];
    out[name] = known === undefined ? value : Array.isArray(known) ? [...known, value] : [known, value];
  });
  return out;
}

function write(res: NodeServerResponse, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.errored) return reject(res.errored);
    const flushed = (res as http.ServerResponse).write(chunk, (error) => {
      if (error) reject(error);
    });
    if (flushed) resolve();
    else {
      const done = () => {
        res.off("drain", done);
        res.off("close", done);
        resolve();
      };
      res.once("drain", done);
      // A client that went away never drains; the write's own callback reports the error.
      res.once("close", done);
    }
  });
}
