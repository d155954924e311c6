import { AwsV4Signer } from "aws4fetch";
import { readStrategy } from "./read-strategy.ts";
import type { Credential } from "./credential.ts";

/** The parts of a request SigV4 covers. */
export interface SignableRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  /** The exact body bytes that will be sent; empty for none. */
  readonly body: ArrayBuffer;
}

/**
 * Signs a request with AWS Signature Version 4 (aws4fetch's signer) and
 * returns the headers to send. The body's SHA-256 goes in
 * `X-Amz-Content-Sha256` before signing, so it is a signed header and the
 * signature covers the exact body bytes. Config: `service` (required),
 * `region` (default `us-east-1`); credentials: `access_key`, `secret_key`,
 * optional `session_token`. `now` is the signing clock.
 */
export async function signAwsV4(request: SignableRequest, credential: Credential, now: () => number): Promise<Headers> {
  const s = readStrategy(credential);
  const service = s.requiredConfig("service");
  const region = s.config("region", "us-east-1");
  const accessKeyId = s.field("access_key");
  const secretAccessKey = s.field("secret_key");
  const sessionToken = credential.credentials.session_token;
  const headers = new Headers(request.headers);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", request.body));
  headers.set("x-amz-content-sha256", [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""));
  const signer = new AwsV4Signer({
    method: request.method,
    url: request.url,
    headers,
    accessKeyId,
    secretAccessKey,
    ...(typeof sessionToken === "string" && sessionToken !== "" ? { sessionToken } : {}),
    service,
    region,
    datetime: new Date(now()).toISOString().replace(/[:-]|\.\d{3}/g, ""),
  });
  return (await signer.sign()).headers;
}
