import type { ConnectError } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import type { ErrorReason } from "../errors.ts";
import { httpStatusFor, type ReasonDetails, withReason } from "../connect-errors.ts";

/**
 * An HTTP response carrying Connect's error JSON (`{"code","message","details"}`)
 * with the HTTP status of its reason (see `httpStatusFor`), so that REST
 * callers, Connect clients and curl users all read errors the same way.
 */
export function errorResponse(
  reason: ErrorReason,
  message: string,
  options: { status?: number; header?: Headers; details?: ReasonDetails } = {},
): UniversalServerResponse {
  return connectErrorResponse(withReason(reason, message, options.details), options);
}

/** Like {@linkcode errorResponse}, for an existing ConnectError. */
export function connectErrorResponse(
  error: ConnectError,
  options: { status?: number; header?: Headers } = {},
): UniversalServerResponse {
  const header = new Headers(options.header);
  header.set("content-type", "application/json");
  return {
    status: options.status ?? httpStatusFor(error),
    header,
    body: once(errorToJsonBytes(error, {})),
  };
}

/** A JSON response. */
export function jsonResponse(status: number, value: unknown, header?: Headers): UniversalServerResponse {
  const h = new Headers(header);
  h.set("content-type", "application/json");
  return { status, header: h, body: once(new TextEncoder().encode(JSON.stringify(value))) };
}

/** A response with a fixed body. */
export function bytesResponse(status: number, contentType: string, body: Uint8Array | string, header?: Headers): UniversalServerResponse {
  const h = new Headers(header);
  h.set("content-type", contentType);
  return { status, header: h, body: once(typeof body === "string" ? new TextEncoder().encode(body) : body) };
}

const single = Symbol("single chunk");

/**
 * An async iterable yielding one chunk: the body shape universal responses
 * take. It is marked, so a runtime can write it whole with a content-length
 * instead of iterating it (see {@linkcode singleChunkOf}).
 */
export function once(chunk: Uint8Array): AsyncIterable<Uint8Array> {
  return {
    [single]: chunk,
    async *[Symbol.asyncIterator]() {
      yield chunk;
    },
  } as AsyncIterable<Uint8Array>;
}

/** The one chunk of a body made by {@linkcode once}; undefined for any other body. */
export function singleChunkOf(body: unknown): Uint8Array | undefined {
  return typeof body === "object" && body !== null && single in body ? (body as { [single]: Uint8Array })[single] : undefined;
}
