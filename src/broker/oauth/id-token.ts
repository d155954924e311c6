/**
 * ID token validation (OIDC Core 3.1.3.7; security.md S-17..S-20, C-22..C-29).
 * Signatures are always checked against the issuer's JWKS, even for tokens
 * straight from the token endpoint: Nexus does not take the TLS shortcut, so
 * unsigned (`none`) and HMAC-signed tokens are refused (S-19, C-28).
 */
import { base64url, createRemoteJWKSet, customFetch, errors, type JWTPayload, jwtVerify, type RemoteJWKSet } from "jose";
import { NexusError } from "../../shared/errors.ts";
import type { FetchLike } from "./fetch-with-timeout.ts";

/** Asymmetric algorithms only: HS* would verify with the client secret, which the provider and Nexus both know. */
export const idTokenAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/** Leeway for exp/iat/nbf in seconds (S-20). */
export const idTokenClockToleranceSeconds = 120;

/** Oldest `iat` accepted, in seconds (C-27). */
export const idTokenMaxAgeSeconds = 24 * 60 * 60;

/** Verified claims; `sub`, `iat` and `exp` are always present. */
export interface IdTokenClaims extends JWTPayload {
  sub: string;
  iat: number;
  exp: number;
}

/** What the token must match. */
export interface IdTokenExpectations {
  /** The discovered issuer, compared exactly. */
  issuer: string;
  jwksUri: string;
  clientId: string;
  /** The nonce sent in the authorization request; when given, the claim must equal it. */
  nonce?: string;
  /** The access token issued alongside, to check `at_hash` when the token has one. */
  accessToken?: string;
}

/** Options of {@linkcode createIdTokenVerifier}. */
export interface IdTokenVerifierOptions {
  fetch: FetchLike;
  /** The clock, ms since the epoch. */
  now: () => number;
  /** Minimum ms between JWKS refetches triggered by an unknown `kid` (default 30 s, C-29). */
  cooldownMs?: number;
  /** Deadline of a JWKS request (default 5 s). */
  timeoutMs?: number;
}

/** Verifies ID tokens, caching each issuer's JWKS. */
export interface IdTokenVerifier {
  /**
   * Returns the claims of a valid token. Throws NexusError `id_token_invalid`
   * naming the failed check (never the token), or `provider_unavailable` when
   * the JWKS cannot be fetched, since a retry can help then.
   */
  verify(idToken: string, expect: IdTokenExpectations): Promise<IdTokenClaims>;
}

/** Creates a verifier with one JWKS cache per `jwksUri`. */
export function createIdTokenVerifier(options: IdTokenVerifierOptions): IdTokenVerifier {
  const jwksByUri = new Map<string, RemoteJWKSet>();
  const jwksFor = (uri: string): RemoteJWKSet => {
    let jwks = jwksByUri.get(uri);
    if (jwks === undefined) {
      // jose refetches once on an unknown kid, at most once per cooldown, so a flood of
      // forged kids cannot turn into a flood of requests to the provider.
      jwks = createRemoteJWKSet(new URL(uri), {
        [customFetch]: options.fetch,
        cooldownDuration: options.cooldownMs ?? 30_000,
        timeoutDuration: options.timeoutMs ?? 5_000,
      });
      jwksByUri.set(uri, jwks);
    }
    return jwks;
  };

  const verify = async (idToken: string, expect: IdTokenExpectations): Promise<IdTokenClaims> => {
    let result: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      result = await jwtVerify(idToken, jwksFor(expect.jwksUri), {
        issuer: expect.issuer,
        audience: expect.clientId,
        algorithms: idTokenAlgorithms,
        clockTolerance: idTokenClockToleranceSeconds,
        maxTokenAge: idTokenMaxAgeSeconds,
        currentDate: new Date(options.now()),
        requiredClaims: ["sub", "iat", "exp"],
      });
    } catch (error) {
      throw joseFailure(error);
    }
    const claims = result.payload;
    if (typeof claims.sub !== "string" || claims.sub === "") throw invalid("sub: missing or not a string");
    // jose accepts any array containing us; OIDC Core says reject untrusted extra audiences (C-23).
    if (Array.isArray(claims.aud) && claims.aud.some((aud) => aud !== expect.clientId)) {
      throw invalid("aud: lists an audience other than this client");
    }
    if (claims.azp !== undefined && claims.azp !== expect.clientId) throw invalid("azp: names another client");
    if (expect.nonce !== undefined) {
      if (claims.nonce === undefined) throw invalid("nonce: missing");
      if (claims.nonce !== expect.nonce) throw invalid("nonce: does not match the authorization request");
    }
    if (claims.at_hash !== undefined && expect.accessToken !== undefined) {
      const expected = await leftHalfHash(expect.accessToken, result.protectedHeader.alg, result.key);
      if (claims.at_hash !== expected) throw invalid("at_hash: does not match the access token");
    }
    return claims as IdTokenClaims;
  };

  return { verify };
}

/** base64url of the left half of hash(value), the hash chosen by the signing alg (OIDC Core 3.1.3.6). */
async function leftHalfHash(value: string, alg: string | undefined, key: unknown): Promise<string> {
  let hash: string;
  if (alg === "EdDSA") {
    // Ed25519 pairs with SHA-512; Ed448 needs SHAKE256, which WebCrypto lacks, so fail closed.
    const curve = typeof key === "object" && key !== null && "algorithm" in key ? (key.algorithm as { name?: string }).name : undefined;
    if (curve !== "Ed25519") throw invalid("at_hash: cannot be checked for this EdDSA curve");
    hash = "SHA-512";
  } else {
    const bits = /^(?:RS|PS|ES)(256|384|512)$/.exec(alg ?? "")?.[1];
    if (bits === undefined) throw invalid("at_hash: unsupported alg");
    hash = `SHA-${bits}`;
  }
  const digest = new Uint8Array(await crypto.subtle.digest(hash, new TextEncoder().encode(value)));
  return base64url.encode(digest.slice(0, digest.length / 2));
}

function invalid(check: string, cause?: unknown): NexusError {
  return new NexusError("id_token_invalid", `ID token rejected: ${check}`, { cause });
}

/** Maps jose's errors to the check that failed; messages are ours, never jose's (they may quote claims). */
function joseFailure(error: unknown): NexusError {
  if (error instanceof errors.JWTExpired) {
    return invalid(error.claim === "iat" ? "iat: issued too long ago" : "exp: expired", error);
  }
  if (error instanceof errors.JWTClaimValidationFailed) return invalid(`${error.claim}: ${error.reason.replace(/_/g, " ")}`, error);
  if (error instanceof errors.JOSEAlgNotAllowed) return invalid("alg: not an allowed signing algorithm", error);
  if (error instanceof errors.JWSSignatureVerificationFailed) return invalid("signature: verification failed", error);
  if (error instanceof errors.JWKSNoMatchingKey) return invalid("kid: no key of the issuer's JWKS matches", error);
  if (error instanceof errors.JWKSMultipleMatchingKeys) return invalid("kid: several keys of the issuer's JWKS match", error);
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return invalid("format: not a signed JWT", error);
  if (error instanceof errors.JOSENotSupported || error instanceof errors.JWKInvalid) {
    return invalid("key: the issuer's key or alg is not supported", error);
  }
  if (error instanceof errors.JWKSInvalid) return invalid("jwks: the issuer's JWKS is malformed", error);
  // JWKS timeouts, network errors and non-200 JWKS answers: the provider, not the token, is at fault.
  return new NexusError("provider_unavailable", "ID token could not be checked: fetching the issuer's JWKS failed", { cause: error });
}
