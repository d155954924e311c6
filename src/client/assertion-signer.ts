import { importJWK, type JWK, SignJWT } from "jose";
import { NexusClientError } from "./nexus-client-error.ts";
import { assertionAlgorithms } from "../shared/assertion-algorithms.ts";

/** Returns a fresh signed assertion (a compact JWT) each time it is called. */
export type AssertionSigner = () => Promise<string>;

/** Options of {@linkcode createAssertionSigner}. */
export interface AssertionSignerOptions {
  /** The registered agent's id: `iss` and `sub` of every assertion. */
  readonly agentId: string;
  /**
   * The private half of a key registered in the agent's `jwks`, as a JWK with
   * its `kid` and `alg` (RS256, PS256, ES256, EdDSA, ... : asymmetric only).
   */
  readonly privateJwk: JWK;
  /** The Gateway's `GATEWAY_PUBLIC_URL`: `aud` of every assertion. */
  readonly audience: string;
  /** Seconds an assertion stays valid; the Gateway accepts at most 300. @default 60 */
  readonly lifetimeSeconds?: number;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

/** The algorithms the Gateway accepts: asymmetric only, so no shared secret ever exists. */
export { assertionAlgorithms };

/**
 * Creates a signer of agent assertions (RFC 7523 shape) for the Gateway:
 * header `alg` and `kid` from the JWK; claims iss = sub = the agent id,
 * aud = the Gateway's public URL, iat = now, exp = now + 60 s, and a random
 * `jti`. The Gateway accepts each jti once, so the signer makes a new
 * assertion on every call; `createNexusClient({ agent })` calls it for every
 * request. The key is imported once, on the first call. Throws a
 * NexusClientError (`invalid_argument`) at once when the JWK cannot sign.
 */
export function createAssertionSigner(options: AssertionSignerOptions): AssertionSigner {
  const { agentId, privateJwk, audience } = options;
  if (typeof agentId !== "string" || agentId.trim() === "") throw invalid("agent id is required: the id the Broker gave the agent (POST /agents)");
  if (typeof audience !== "string" || !URL.canParse(audience)) throw invalid(`audience must be the Gateway's public URL, got "${String(audience)}"`);
  if (privateJwk === null || typeof privateJwk !== "object") throw invalid("privateJwk must be a JWK object");
  const { alg, kid } = privateJwk;
  if (typeof kid !== "string" || kid === "") throw invalid("privateJwk needs the kid it is registered under in the agent's jwks");
  if (typeof alg !== "string" || !(assertionAlgorithms as readonly string[]).includes(alg)) throw invalid(`privateJwk needs an alg, one of ${assertionAlgorithms.join(", ")}`);
  if (typeof privateJwk.d !== "string") throw invalid("privateJwk is a public key; sign with its private half (register only the public one)");
  const lifetime = options.lifetimeSeconds ?? 60;
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > 300) throw invalid("lifetimeSeconds must be a whole number from 1 to 300");
  const now = options.now ?? Date.now;
  let key: ReturnType<typeof importJWK> | undefined;

  return async () => {
    key ??= importJWK(privateJwk, alg);
    let signingKey: Awaited<typeof key>;
    try {
      signingKey = await key;
    } catch (error) {
      key = undefined;
      throw new NexusClientError(`invalid_argument: privateJwk could not be imported for ${alg} (${error instanceof Error ? error.message : "unknown error"})`, {
        code: "invalid_argument", reason: "invalid_argument", cause: error,
      });
    }
    const iat = Math.floor(now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg, kid, typ: "JWT" })
      .setIssuer(agentId).setSubject(agentId).setAudience(audience)
      .setIssuedAt(iat).setExpirationTime(iat + lifetime)
      .setJti(crypto.randomUUID())
      .sign(signingKey);
  };
}

function invalid(message: string): NexusClientError {
  return new NexusClientError(`invalid_argument: ${message}`, { code: "invalid_argument", reason: "invalid_argument" });
}
