import { errors, jwtVerify, SignJWT } from "jose";
import { NexusError } from "../../shared/errors.ts";
import { inputPatterns, isStateShaped, stateRefusal } from "../../shared/input-rules.ts";

/** What a handshake state names. */
export interface StateClaims {
  /** The handshake row (the JWT id); single use. */
  readonly handshakeId: string;
  readonly connectionId: string;
  readonly providerId: string;
}

/** The outcome of reading a state. */
export type StateCheck =
  | { readonly ok: true; readonly claims: StateClaims }
  | { readonly ok: false; readonly reason: "state_missing" | "state_invalid" }
  /** Authentic but too old: the claims can still be trusted to clean up. */
  | { readonly ok: false; readonly reason: "state_expired"; readonly claims: StateClaims };

/** Signs and checks handshake states. */
export interface StateSigner {
  sign(claims: StateClaims, lifetimeSeconds: number): Promise<string>;
  check(state: string | undefined): Promise<StateCheck>;
}

const audience = "nexus-handshake";

/**
 * Handshake states are compact HS256 JWTs signed with STATE_KEY: the handshake
 * id (jti), connection and provider, an expiry and a fixed audience. jose
 * compares the MAC in constant time. Validity is necessary but not enough: the
 * handshake row must also still exist, which makes every state single use.
 */
export function createStateSigner(key: Uint8Array, now: () => number): StateSigner {
  if (key.length < 32) throw new RangeError("STATE_KEY must be at least 32 bytes");
  return {
    async sign(claims, lifetimeSeconds) {
      const iat = Math.floor(now() / 1000);
      return new SignJWT({ cid: claims.connectionId, pid: claims.providerId })
        .setProtectedHeader({ alg: "HS256" })
        .setJti(claims.handshakeId)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(iat + lifetimeSeconds)
        .sign(key);
    },
    async check(state) {
      if (state === undefined || state === "") return { ok: false, reason: "state_missing" };
      // Refuse before any crypto: oversized or oddly shaped input is never a state we made.
      if (!isStateShaped(state)) return { ok: false, reason: "state_invalid" };
      try {
        const { payload } = await jwtVerify(state, key, { algorithms: ["HS256"], audience, currentDate: new Date(now()) });
        const claims = claimsOf(payload);
        return claims === undefined ? { ok: false, reason: "state_invalid" } : { ok: true, claims };
      } catch (error) {
        if (error instanceof errors.JWTExpired) {
          const claims = claimsOf(error.payload);
          if (claims !== undefined) return { ok: false, reason: "state_expired", claims };
        }
        return { ok: false, reason: "state_invalid" };
      }
    },
  };
}

function claimsOf(payload: Record<string, unknown>): StateClaims | undefined {
  const { jti, cid, pid } = payload;
  if (typeof jti !== "string" || typeof cid !== "string" || typeof pid !== "string") return undefined;
  if (![jti, cid, pid].every((id) => inputPatterns.uuid.test(id))) return undefined;
  return { handshakeId: jti, connectionId: cid, providerId: pid };
}

/** Throws the NexusError matching a failed state check. */
export function stateError(check: Extract<StateCheck, { ok: false }>): NexusError {
  switch (check.reason) {
    case "state_missing":
    case "state_invalid":
      return stateRefusal(check.reason);
    case "state_expired":
      return new NexusError("state_expired", "the handshake expired; start the connection again");
  }
}
