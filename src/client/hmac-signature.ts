import { encodeBase64 } from "./encode-base64.ts";
import { credentialInvalid } from "./read-strategy.ts";

const hashes: Record<string, string> = { sha256: "SHA-256", sha1: "SHA-1" };

/**
 * HMAC of `message` keyed with the UTF-8 bytes of `secret`, through
 * crypto.subtle (browsers, Deno, Node alike). `algo` is `sha256` or `sha1`;
 * `encoding` is `hex` (lowercase) or `base64` (standard, padded). Anything
 * else is `credential_invalid`: signing with a guessed algorithm would only
 * produce requests the provider rejects.
 */
export async function hmacSignature(secret: string, message: Uint8Array | ArrayBuffer, algo: string, encoding: string): Promise<string> {
  const hash = hashes[algo];
  if (hash === undefined) throw credentialInvalid(`config "algo" must be "sha256" or "sha1", got "${algo}"`);
  if (encoding !== "hex" && encoding !== "base64") throw credentialInvalid(`config "encoding" must be "hex" or "base64", got "${encoding}"`);
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash }, false, ["sign"]);
  const bytes = new Uint8Array(await crypto.subtle.sign("HMAC", key, message instanceof Uint8Array ? new Uint8Array(message) : message));
  return encoding === "hex" ? [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("") : encodeBase64(bytes);
}
