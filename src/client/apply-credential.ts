import { assertHostAllowed } from "./allowed-hosts.ts";
import { applyCredentialToUrl } from "./apply-credential-to-url.ts";
import type { Credential } from "./credential.ts";
import { credentialHeaders } from "./credential-headers.ts";
import { hmacSignature } from "./hmac-signature.ts";
import { credentialInvalid, readStrategy, unsupportedStrategy } from "./read-strategy.ts";
import { signAwsV4 } from "./sign-aws-v4.ts";

/** Options of {@linkcode applyCredential}. */
export interface ApplyCredentialOptions {
  /** The clock SigV4 signs with, in ms since the epoch. @default Date.now */
  readonly now?: () => number;
}

/**
 * Returns a copy of `request` carrying `credential` as its strategy says:
 * `oauth2`, `header`, `basic_auth` (headers), `query_param` (URL, existing
 * query kept), `hmac_payload` (HMAC of the exact body bytes in `header_name`)
 * or `aws_sigv4` (AWS Signature V4 covering the body). For the signing
 * strategies the body is read once from a clone and the copy is rebuilt with
 * those same bytes, so what is signed is exactly what is sent; the others
 * hand the original body over to the copy (send the copy, not the original).
 * An unknown strategy, or a missing config value or
 * credential field, rejects with a NexusClientError (`unsupported_strategy`,
 * `credential_invalid`): the request is never sent unsigned. A credential
 * limited to some hosts (a session's `allowed_hosts`) is never applied to a
 * request for another host: `host_not_allowed`.
 */
export async function applyCredential(request: Request, credential: Credential, options: ApplyCredentialOptions = {}): Promise<Request> {
  assertHostAllowed(request.url, credential);
  const s = readStrategy(credential);
  switch (s.type) {
    case "oauth2":
    case "header":
    case "basic_auth":
      return rebuild(request, withHeaders(request.headers, credentialHeaders(credential)));
    case "query_param":
      return new Request(applyCredentialToUrl(request.url, credential), request);
    case "hmac_payload": {
      const header = s.requiredConfig("header_name");
      const secret = s.field(s.config("secret_field", "api_secret"));
      const body = await bodyOf(request);
      const signature = await hmacSignature(secret, body, s.config("algo", "sha256"), s.config("encoding", "hex"));
      return rebuild(request, withHeaders(request.headers, { [header]: signature }), body);
    }
    case "aws_sigv4": {
      const body = await bodyOf(request);
      const headers = await signAwsV4({ method: request.method, url: request.url, headers: request.headers, body }, credential, options.now ?? Date.now);
      return rebuild(request, headers, body);
    }
    case "":
      throw credentialInvalid("the credential has no strategy type");
    default:
      throw unsupportedStrategy(`unknown strategy type "${s.type}"; refusing to send the request unsigned`);
  }
}

/** The body's bytes, read from a clone so the caller's request stays usable. */
async function bodyOf(request: Request): Promise<ArrayBuffer> {
  return request.body === null ? new ArrayBuffer(0) : request.clone().arrayBuffer();
}

function withHeaders(base: Headers, extra: Record<string, string>): Headers {
  const headers = new Headers(base);
  try {
    for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  } catch (error) {
    throw credentialInvalid(`the strategy produced an invalid header: ${error instanceof Error ? error.message : String(error)}`);
  }
  return headers;
}

function rebuild(request: Request, headers: Headers, body?: ArrayBuffer): Request {
  // GET and HEAD cannot carry a body, not even an empty one.
  return request.body === null || body === undefined ? new Request(request, { headers }) : new Request(request, { headers, body });
}
