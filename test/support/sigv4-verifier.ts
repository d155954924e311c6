/**
 * An AWS Signature Version 4 verifier written from the AWS specification
 * with node:crypto, independent of the signer under test (aws4fetch): it
 * rebuilds the canonical request from what arrived on the wire and checks
 * the signature, the scope, the clock and the body hash.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/** What the server received. */
export interface ReceivedRequest {
  readonly method: string;
  /** Path and query exactly as on the request line. */
  readonly target: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** The verdict, with the parts a test may want to look at. */
export type SigV4Verdict =
  | { ok: true; accessKey: string; region: string; service: string; signedHeaders: string[] }
  | { ok: false; problem: string };

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data, "utf8").digest();

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is %XX (uppercase). */
function uriEncode(text: string): string {
  return [...Buffer.from(text, "utf8")]
    .map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`))
    .join("");
}

/** Checks `req` against the secret of the access key it names. */
export function verifySigV4(req: ReceivedRequest, secretFor: (accessKey: string) => string | undefined, now = new Date()): SigV4Verdict {
  const auth = String(req.headers.authorization ?? "");
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/([^/,]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (m === null) return { ok: false, problem: "no SigV4 Authorization header" };
  const [, accessKey, date, region, service, signedList, signature] = m as unknown as [string, string, string, string, string, string, string];
  const secret = secretFor(accessKey);
  if (secret === undefined) return { ok: false, problem: "unknown access key" };
  const amzDate = String(req.headers["x-amz-date"] ?? "");
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || !amzDate.startsWith(date)) return { ok: false, problem: "bad x-amz-date" };
  const signedAt = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  if (Math.abs(now.getTime() - signedAt) > 5 * 60_000) return { ok: false, problem: "request time too skewed" };
  const signedHeaders = signedList.split(";");
  for (const required of ["host", "x-amz-date", "x-amz-content-sha256"]) {
    if (!signedHeaders.includes(required)) return { ok: false, problem: `${required} is not signed` };
  }
  const payloadHash = String(req.headers["x-amz-content-sha256"] ?? "");
  if (payloadHash !== sha256(req.body)) return { ok: false, problem: "x-amz-content-sha256 does not match the body received" };

  const [rawPath = "/", rawQuery = ""] = req.target.split("?", 2) as [string, string?];
  // Not S3: each path segment is URI-encoded twice, i.e. the wire form (encoded once) is encoded again.
  const canonicalUri = rawPath.split("/").map(uriEncode).join("/");
  const canonicalQuery = rawQuery
    .split("&")
    .filter((p) => p !== "")
    .map((p) => {
      const eq = p.indexOf("=");
      const [k, v] = eq < 0 ? [p, ""] : [p.slice(0, eq), p.slice(eq + 1)];
      return [uriEncode(decodeURIComponent(k)), uriEncode(decodeURIComponent(v))] as const;
    })
    .sort(([k1, v1], [k2, v2]) => (k1 < k2 ? -1 : k1 > k2 ? 1 : v1 < v2 ? -1 : v1 > v2 ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonicalHeaders = signedHeaders.map((h) => `${h}:${String(req.headers[h] ?? "").trim().replace(/\s+/g, " ")}\n`).join("");
  const canonicalRequest = [req.method.toUpperCase(), canonicalUri, canonicalQuery, canonicalHeaders, signedList, payloadHash].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonicalRequest)].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request");
  const expected = createHmac("sha256", key).update(stringToSign, "utf8").digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) return { ok: false, problem: "signature mismatch" };
  return { ok: true, accessKey, region, service, signedHeaders };
}
