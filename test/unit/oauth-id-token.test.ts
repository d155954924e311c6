/**
 * ID token validation with locally signed tokens and a fake JWKS endpoint
 * (security.md S-17..S-20, C-22..C-29).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT, UnsecuredJWT } from "jose";
import { NexusError, type ErrorReason } from "../../src/shared/errors.ts";
import { createIdTokenVerifier, type IdTokenExpectations } from "../../src/broker/oauth/id-token.ts";

const issuer = "https://idp.example";
const jwksUri = "https://idp.example/jwks";
const clientId = "client-1";
const now = Date.parse("2026-01-01T00:00:00Z");
const nowSeconds = now / 1000;
const expect: IdTokenExpectations = { issuer, jwksUri, clientId, nonce: "n-1" };

type Alg = "RS256" | "ES384";
const keys = {
  rs: { alg: "RS256" as Alg, kid: "rs-1", pair: await generateKeyPair("RS256", { extractable: true }) },
  es: { alg: "ES384" as Alg, kid: "es-1", pair: await generateKeyPair("ES384", { extractable: true }) },
  rotated: { alg: "RS256" as Alg, kid: "rs-2", pair: await generateKeyPair("RS256", { extractable: true }) },
};
type Key = (typeof keys)[keyof typeof keys];

async function publicJwk(key: Key) {
  return { ...(await exportJWK(key.pair.publicKey)), kid: key.kid, alg: key.alg, use: "sig" };
}

/** A JWKS endpoint serving `published`, counting requests. */
function jwksServer(published: Key[]) {
  const state = { published, requests: 0 };
  const fetch = async (input: string | URL | Request) => {
    assert.equal(String(input), jwksUri);
    state.requests++;
    return new Response(JSON.stringify({ keys: await Promise.all(state.published.map(publicJwk)) }), {
      headers: { "content-type": "application/json" },
    });
  };
  return { state, fetch };
}

function claims(overrides: JWTPayload = {}): JWTPayload {
  return { iss: issuer, aud: clientId, sub: "user-1", iat: nowSeconds - 10, exp: nowSeconds + 300, nonce: "n-1", ...overrides };
}

async function sign(payload: JWTPayload, key: Key = keys.rs): Promise<string> {
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid });
  return jwt.sign(key.pair.privateKey);
}

function atHash(accessToken: string, hash: "sha256" | "sha384"): string {
  const digest = createHash(hash).update(accessToken).digest();
  return digest.subarray(0, digest.length / 2).toString("base64url");
}

async function rejectsWith(promise: Promise<unknown>, reason: ErrorReason, pattern: RegExp, token?: string): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof NexusError, `expected NexusError ${reason}, got ${String(caught)}`);
  assert.equal(caught.reason, reason, caught.message);
  assert.match(caught.message, pattern);
  if (token !== undefined) assert.ok(!caught.message.includes(token), "the message never holds the token");
}

function verifier(published: Key[] = [keys.rs, keys.es]) {
  const server = jwksServer(published);
  return { server, verify: createIdTokenVerifier({ fetch: server.fetch, now: () => now }).verify };
}

describe("ID token verification", () => {
  it("accepts a valid token and returns its claims", async () => {
    const { verify } = verifier();
    const result = await verify(await sign(claims({ email: "u@example.test" })), expect);
    assert.equal(result.sub, "user-1");
    assert.equal(result.email, "u@example.test");
    assert.equal((await verify(await sign(claims(), keys.es), expect)).sub, "user-1");
  });

  it("allows 120 s of leeway on exp, no more (C-26)", async () => {
    const { verify } = verifier();
    await verify(await sign(claims({ exp: nowSeconds - 60 })), expect);
    const stale = await sign(claims({ exp: nowSeconds - 600 }));
    await rejectsWith(verify(stale, expect), "id_token_invalid", /exp/, stale);
  });

  it("rejects an iat older than 24 h or in the future (C-27)", async () => {
    const { verify } = verifier();
    await rejectsWith(verify(await sign(claims({ iat: nowSeconds - 7 * 86400, exp: nowSeconds + 60 })), expect), "id_token_invalid", /iat/);
    await rejectsWith(verify(await sign(claims({ iat: nowSeconds - 86400 - 300 })), expect), "id_token_invalid", /iat/);
    await rejectsWith(verify(await sign(claims({ iat: nowSeconds + 3600, exp: nowSeconds + 7200 })), expect), "id_token_invalid", /iat/);
  });

  it("requires sub, iat and exp", async () => {
    const { verify } = verifier();
    for (const claim of ["sub", "iat", "exp"]) {
      await rejectsWith(verify(await sign(claims({ [claim]: undefined })), expect), "id_token_invalid", new RegExp(claim));
    }
  });

  it("rejects a wrong iss, a missing aud, an extra audience or a foreign azp (C-22..C-24)", async () => {
    const { verify } = verifier();
    await rejectsWith(verify(await sign(claims({ iss: `${issuer}/` })), expect), "id_token_invalid", /iss/);
    await rejectsWith(verify(await sign(claims({ aud: "someone-else" })), expect), "id_token_invalid", /aud/);
    await rejectsWith(verify(await sign(claims({ aud: [clientId, "untrusted"] })), expect), "id_token_invalid", /aud/);
    await rejectsWith(verify(await sign(claims({ azp: "someone-else" })), expect), "id_token_invalid", /azp/);
    assert.equal((await verify(await sign(claims({ aud: [clientId], azp: clientId })), expect)).sub, "user-1");
  });

  it("requires the expected nonce exactly (C-25)", async () => {
    const { verify } = verifier();
    await rejectsWith(verify(await sign(claims({ nonce: undefined })), expect), "id_token_invalid", /nonce: missing/);
    await rejectsWith(verify(await sign(claims({ nonce: "n-2" })), expect), "id_token_invalid", /nonce/);
    await rejectsWith(verify(await sign(claims({ nonce: "N-1" })), expect), "id_token_invalid", /nonce/);
    const { nonce: _ignored, ...withoutNonce } = expect;
    assert.equal((await verify(await sign(claims({ nonce: "anything" })), withoutNonce)).sub, "user-1");
  });

  it("checks at_hash with the hash of the signing alg", async () => {
    const { verify } = verifier();
    const accessToken = "access-token-123";
    await verify(await sign(claims({ at_hash: atHash(accessToken, "sha256") })), { ...expect, accessToken });
    await verify(await sign(claims({ at_hash: atHash(accessToken, "sha384") }), keys.es), { ...expect, accessToken });
    await rejectsWith(verify(await sign(claims({ at_hash: atHash("other", "sha256") })), { ...expect, accessToken }), "id_token_invalid", /at_hash/);
    await rejectsWith(
      verify(await sign(claims({ at_hash: atHash(accessToken, "sha256") }), keys.es), { ...expect, accessToken }),
      "id_token_invalid",
      /at_hash/,
    );
  });

  it("rejects HS256 signed with the client secret, alg none and a tampered signature (C-28)", async () => {
    const { server, verify } = verifier();
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode("client-secret-of-32-bytes-or-more!!"));
    await rejectsWith(verify(hs, expect), "id_token_invalid", /alg/, hs);
    assert.equal(server.state.requests, 0, "an HS256 token is refused before any JWKS request");
    const none = new UnsecuredJWT(claims()).encode();
    await rejectsWith(verify(none, expect), "id_token_invalid", /alg|format/);
    const good = await sign(claims());
    const [header, payload, signature = ""] = good.split(".");
    const tampered = `${header}.${payload}.${signature.slice(0, -4)}${signature.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`;
    await rejectsWith(verify(tampered, expect), "id_token_invalid", /signature/, tampered);
    const forged = `${header}.${Buffer.from(JSON.stringify(claims({ sub: "admin" }))).toString("base64url")}.${signature}`;
    await rejectsWith(verify(forged, expect), "id_token_invalid", /signature/);
    await rejectsWith(verify("not-a-jwt", expect), "id_token_invalid", /format/);
  });

  it("refetches the JWKS once for a new kid, and rate-limits refetches for unknown kids (C-29)", async () => {
    const { server, verify } = verifier([keys.rs]);
    await verify(await sign(claims()), expect);
    assert.equal(server.state.requests, 1);
    await verify(await sign(claims()), expect);
    assert.equal(server.state.requests, 1, "cached");

    // The provider rotates. jose's cooldown (30 s after each fetch, on the real clock) would hold back a refetch
    // this soon, so this verifier has none; the rotated kid then costs exactly one refetch.
    const rotating = jwksServer([keys.rs]);
    const rotatingVerify = createIdTokenVerifier({ fetch: rotating.fetch, now: () => now, cooldownMs: 0 }).verify;
    await rotatingVerify(await sign(claims()), expect);
    rotating.state.published = [keys.rs, keys.rotated];
    await rotatingVerify(await sign(claims(), keys.rotated), expect);
    assert.equal(rotating.state.requests, 2, "one refetch for the new kid");

    // A flood of tokens with unknown kids causes at most one refetch within the cooldown.
    const stranger = { ...keys.rotated, kid: "unknown" };
    for (let i = 0; i < 5; i++) {
      await rejectsWith(verify(await sign(claims(), stranger), expect), "id_token_invalid", /kid/);
    }
    assert.equal(server.state.requests, 1, "no refetch storm");
  });

  it("reports an unreachable JWKS as provider_unavailable", async () => {
    const verify = createIdTokenVerifier({ fetch: async () => new Response("oops", { status: 500 }), now: () => now }).verify;
    await rejectsWith(verify(await sign(claims()), expect), "provider_unavailable", /JWKS/);
    const down = createIdTokenVerifier({ fetch: () => Promise.reject(new TypeError("fetch failed")), now: () => now }).verify;
    await rejectsWith(down(await sign(claims()), expect), "provider_unavailable", /JWKS/);
  });
});
