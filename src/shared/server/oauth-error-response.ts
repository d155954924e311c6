import { ConnectError } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { reasonOf } from "../connect-errors.ts";
import type { ErrorReason } from "../errors.ts";
import { jsonResponse } from "./error-response.ts";

/** Reasons that are RFC 6749 / RFC 8693 token endpoint errors under their own name. */
const oauthNamed = new Set<ErrorReason>(["invalid_request", "unsupported_grant_type", "invalid_grant", "invalid_scope", "invalid_target"]);
/** Reasons that mean the caller's own credential failed: `invalid_client`. */
const clientFailures = new Set<ErrorReason>([
  "unauthenticated", "agent_key_invalid", "agent_disabled", "assertion_invalid", "assertion_expired", "assertion_replayed", "invalid_client",
]);
const unavailable = new Set<ErrorReason>(["unavailable", "provider_unavailable", "refresh_backoff", "deadline_exceeded"]);

/**
 * A token endpoint's error as RFC 6749 section 5.2 writes it
 * (`{"error","error_description"}`), for REST callers of token exchange:
 * OAuth libraries read these, not Connect's error JSON. The Nexus reason maps
 * to the OAuth error a client can act on; the description is the message a
 * person reads (never a secret, as every Nexus message). `authorization` is
 * the request's Authorization header: a client that authenticated with it is
 * challenged with its own scheme (`Basic` for client_secret_basic); one that
 * did not (a client assertion in the body) gets invalid_client without a
 * challenge, as OAuth servers answer it.
 */
export function oauthErrorResponse(error: ConnectError, authorization: string | null = null): UniversalServerResponse {
  const reason = reasonOf(error);
  const description = error.rawMessage.replace(/^[a-z_]+: /, "");
  const header = new Headers({ "cache-control": "no-store", pragma: "no-cache" });
  let code: string;
  let status: number;
  if (reason !== undefined && oauthNamed.has(reason)) [code, status] = [reason, 400];
  else if (reason !== undefined && clientFailures.has(reason)) {
    [code, status] = ["invalid_client", 401];
    const scheme = /^\s*(basic|bearer)\b/i.exec(authorization ?? "")?.[1]?.toLowerCase();
    if (scheme !== undefined) header.set("www-authenticate", `${scheme === "basic" ? "Basic" : "Bearer"} realm="nexus"`);
  } else if (reason === "payload_too_large") [code, status] = ["invalid_request", 413];
  else if (reason === "invalid_argument") [code, status] = ["invalid_request", 400];
  else if (reason !== undefined && unavailable.has(reason)) [code, status] = ["temporarily_unavailable", 503];
  else if (reason !== undefined && reason !== "internal") [code, status] = ["invalid_grant", 400];
  else [code, status] = ["server_error", 500];
  return jsonResponse(status, { error: code, error_description: description }, header);
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
