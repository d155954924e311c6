/**
 * Verifies a Nexus session token the way any resource server can, with jose
 * and nothing from Nexus: the issuer and the JWKS come from the Gateway's
 * RFC 8414 metadata, and the token must be explicitly typed
 * `nexus-session+jwt` (RFC 8725), so no other JWT (an ID token, a provider's
 * access token) passes for a session.
 */
import { createRemoteJWKSet, jwtVerify } from "jose";

/** What a verified session token says. */
export interface VerifiedSession {
  /** `jti`: the session's id, for logs and audit (never log the token). */
  readonly sessionId: string;
  /** `sub`: the workspace (the user) the session acts for. */
  readonly workspaceId: string;
  /** `nexus_connection_id`. */
  readonly connectionId: string;
  /** `scope`: the clearance. */
  readonly scopes: readonly string[];
  /** The `act` chain, holder first: who was given it, who delegated it, and so on up. */
  readonly chain: readonly string[];
  /** `exp`, unix seconds. */
  readonly expiresAt: number;
}

/** Options of {@linkcode createSessionVerifier}. */
export interface SessionVerifierOptions {
  /** Where this server reaches the Gateway. */
  readonly gatewayUrl: string;
  /** This server's own agent id: it accepts only sessions delegated to it (`act.sub`). */
  readonly agentId: string;
}

/** The RFC 8414 metadata document this verifier reads. */
interface Metadata {
  readonly issuer: string;
  readonly jwks_uri: string;
}

/**
 * Returns `verify(token)`, which resolves with the session's claims or
 * rejects. The metadata is read once (again after a failure); jose caches the
 * JWKS and fetches it again when a token names a `kid` it has not seen, so a
 * key rotation at the Broker needs nothing here.
 */
export function createSessionVerifier(options: SessionVerifierOptions): (token: string) => Promise<VerifiedSession> {
  let discovered: Promise<{ issuer: string; jwks: ReturnType<typeof createRemoteJWKSet> }> | undefined;

  function discover() {
    discovered ??= (async () => {
      const res = await fetch(new URL("/.well-known/oauth-authorization-server", options.gatewayUrl));
      if (!res.ok) throw new Error(`the Gateway's metadata answered ${res.status}`);
      const metadata = (await res.json()) as Partial<Metadata>;
      if (typeof metadata.issuer !== "string" || typeof metadata.jwks_uri !== "string") throw new Error("the Gateway's metadata has no issuer or jwks_uri");
      return { issuer: metadata.issuer, jwks: createRemoteJWKSet(new URL(metadata.jwks_uri)) };
    })();
    discovered.catch(() => (discovered = undefined));
    return discovered;
  }

  return async (token) => {
    const { issuer, jwks } = await discover();
    const { payload } = await jwtVerify(token, jwks, {
      issuer,
      typ: "nexus-session+jwt",
      algorithms: ["ES256", "EdDSA"],
      requiredClaims: ["jti", "sub", "exp", "act", "nexus_connection_id"],
    });
    const chain: string[] = [];
    for (let act = payload.act as { sub?: unknown; act?: unknown } | undefined; act !== undefined && chain.length < 32; act = act.act as typeof act) {
      chain.push(String(act.sub));
    }
    // A session given to another agent is not for this server, even though its signature is good.
    if (chain[0] !== options.agentId) throw new Error("the session was not delegated to this tool server");
    return {
      sessionId: String(payload.jti), workspaceId: String(payload.sub), connectionId: String(payload.nexus_connection_id),
      scopes: String(payload.scope ?? "").split(" ").filter((s) => s !== ""), chain, expiresAt: Number(payload.exp),
    };
  };
}
