/**
 * PKCE (RFC 7636) with S256 only, on oauth4webapi, and random tokens for
 * `state` and `nonce`. Every flow uses PKCE, confidential clients included
 * (security.md S-01, S-02).
 */
import { base64url } from "jose";
import * as oauth from "oauth4webapi";

/** A PKCE pair: the verifier is kept secret; the challenge goes in the authorization URL. */
export interface Pkce {
  /** base64url of 32 random bytes: 43 characters from the RFC 7636 alphabet. */
  verifier: string;
  /** base64url(SHA-256(verifier)). */
  challenge: string;
}

/** The only challenge method Nexus sends; `plain` would expose the verifier. */
export const pkceMethod = "S256";

/** Creates a fresh verifier and its S256 challenge. */
export async function createPkce(): Promise<Pkce> {
  const verifier = oauth.generateRandomCodeVerifier();
  return { verifier, challenge: await pkceChallenge(verifier) };
}

/** The S256 challenge of `verifier`. */
export function pkceChallenge(verifier: string): Promise<string> {
  return oauth.calculatePKCECodeChallenge(verifier);
}

/**
 * A base64url string of `bytes` CSPRNG bytes (default 32, i.e. 256 bits), for
 * nonces and other one-time values. At least 16 bytes (128 bits, S-03/S-05).
 */
export function randomToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 16 || bytes > 1024) throw new RangeError("randomToken needs 16 to 1024 bytes");
  return base64url.encode(crypto.getRandomValues(new Uint8Array(bytes)));
}
