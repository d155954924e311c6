import { ConnectError } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { messageText, oauthErrorFor, reasonOf, retryAfterSecondsOf } from "../connect-errors.ts";
import { jsonResponse } from "./error-response.ts";

/**
 * A token endpoint's error as RFC 6749 section 5.2 writes it
 * (`{"error","error_description"}`), for REST callers of token exchange:
 * OAuth libraries read these, not Connect's error JSON. The Nexus reason maps
 * to the OAuth error a client can act on (`oauthErrorFor`, beside the rest of
 * the mapping); the description is the message a person reads (never a
 * secret, as every Nexus message); a retry hint becomes `Retry-After`. `authorization` is
 * the request's Authorization header: a client that authenticated with it is
 * challenged with its own scheme (`Basic` for client_secret_basic); one that
 * did not (a client assertion in the body) gets invalid_client without a
 * challenge, as OAuth servers answer it.
 */
export function oauthErrorResponse(error: ConnectError, authorization: string | null = null): UniversalServerResponse {
  const { error: code, status } = oauthErrorFor(reasonOf(error));
  const header = new Headers({ "cache-control": "no-store", pragma: "no-cache" });
  if (code === "invalid_client") {
    const scheme = /^\s*(basic|bearer)\b/i.exec(authorization ?? "")?.[1]?.toLowerCase();
    if (scheme !== undefined) header.set("www-authenticate", `${scheme === "basic" ? "Basic" : "Bearer"} realm="nexus"`);
  }
  const retryAfter = retryAfterSecondsOf(error);
  if (retryAfter !== undefined) header.set("retry-after", String(Math.ceil(retryAfter)));
  return jsonResponse(status, { error: code, error_description: messageText(error) }, header);
}

/** The ConnectError a Connect error response carries (its JSON body). */
export async function connectErrorOf(response: UniversalServerResponse): Promise<ConnectError> {
  const body = response.body;
  let bytes: Uint8Array = new Uint8Array(0);
  if (body instanceof Uint8Array) bytes = body;
  else if (body !== undefined && typeof body === "object" && Symbol.asyncIterator in body) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(chunk);
    bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let offset = 0;
    for (const c of chunks) {
      bytes.set(c, offset);
      offset += c.byteLength;
    }
  }
  try {
    return errorFromJsonBytes(bytes, undefined, new ConnectError("the token endpoint failed", undefined));
  } catch {
    return new ConnectError("the token endpoint failed");
  }
}
