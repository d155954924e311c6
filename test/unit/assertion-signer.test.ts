/**
 * The client's agent assertions: what createAssertionSigner signs (checked
 * with jose against the public key, as the Broker checks it), what it refuses
 * to sign with, and how createNexusClient puts a fresh one on every request.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK, jwtVerify } from "jose";
import { createAssertionSigner, createNexusClient, NexusClientError } from "../../src/client/mod.ts";
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { withReason } from "../../src/shared/connect-errors.ts";

const agentId = "6f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b";
const audience = "https://nexus-gateway.example.com";

async function keyPair(alg: string, kid: string): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateJwk: { ...(await exportJWK(privateKey)), kid, alg }, publicJwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

/** A fetch that records the Authorization header of each request and answers not_found, as the Gateway would for an unknown id. */
function recordingFetch(): { fetch: typeof fetch; seen: string[] } {
  const seen: string[] = [];
  const fake: typeof fetch = async (input, init) => {
    seen.push(new Request(input, init).headers.get("authorization") ?? "");
    return new Response(new TextDecoder().decode(errorToJsonBytes(withReason("connection_not_found", "no connection"), {})), { status: 404, headers: { "content-type": "application/json" } });
  };
  return { fetch: fake, seen };
}

describe("createAssertionSigner()", () => {
  for (const alg of ["ES256", "EdDSA", "RS256", "PS256"]) {
    it(`signs ${alg} assertions that verify against the public key, with the claims the Gateway checks`, async () => {
      const { privateJwk, publicJwk } = await keyPair(alg, `k-${alg}`);
      const now = 1_800_000_000_000;
      const sign = createAssertionSigner({ agentId, privateJwk, audience, now: () => now });
      const jwt = await sign();
      assert.deepEqual(decodeProtectedHeader(jwt), { alg, kid: `k-${alg}`, typ: "JWT" });
      const { payload } = await jwtVerify(jwt, publicJwk, { issuer: agentId, subject: agentId, audience, algorithms: [alg], currentDate: new Date(now) });
      assert.equal(payload.iat, now / 1000);
      assert.equal(payload.exp, now / 1000 + 60);
      assert.match(payload.jti ?? "", /^[0-9a-f-]{36}$/);
    });
  }

  it("makes a new jti on every call", async () => {
    const sign = createAssertionSigner({ agentId, privateJwk: (await keyPair("ES256", "k1")).privateJwk, audience });
    const jtis = new Set<unknown>();
    for (let i = 0; i < 20; i++) jtis.add(decodeJwt(await sign()).jti);
    assert.equal(jtis.size, 20);
  });

  it("refuses, at once, what cannot make an assertion the Gateway accepts", async () => {
    const { privateJwk, publicJwk } = await keyPair("ES256", "k1");
    const refused = (options: Partial<Parameters<typeof createAssertionSigner>[0]>, message: RegExp) => assert.throws(
      () => createAssertionSigner({ agentId, privateJwk, audience, ...options }),
      (e: unknown) => e instanceof NexusClientError && e.reason === "invalid_argument" && message.test(e.message),
    );
    refused({ privateJwk: publicJwk }, /is a public key/);
    refused({ privateJwk: { ...privateJwk, kid: undefined } as JWK }, /kid/);
    refused({ privateJwk: { ...privateJwk, alg: "HS256" } }, /alg, one of RS256/);
    refused({ privateJwk: { ...privateJwk, alg: "none" } }, /alg/);
    refused({ agentId: "" }, /agent id is required/);
    refused({ audience: "gateway" }, /audience/);
    refused({ lifetimeSeconds: 301 }, /lifetimeSeconds/);
  });

  it("names an unusable key on the first call, without its material", async () => {
    const { privateJwk } = await keyPair("ES256", "k1");
    const sign = createAssertionSigner({ agentId, privateJwk: { ...privateJwk, alg: "RS256" }, audience });
    const error = await sign().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof NexusClientError, String(error));
    assert.equal(error.reason, "invalid_argument");
    assert.ok(!error.message.includes(privateJwk.d!), "the private key is not in the message");
  });
});

describe("createNexusClient() with an agent", () => {
  it("sends a new assertion on every request, with aud the baseUrl's origin by default", async () => {
    const { privateJwk } = await keyPair("ES256", "k1");
    const { fetch, seen } = recordingFetch();
    const client = createNexusClient({ baseUrl: "http://127.0.0.1:9/some/path", agent: { id: agentId, privateJwk }, fetch, logger: {} });
    for (let i = 0; i < 3; i++) await assert.rejects(client.checkConnection(agentId), { reason: "connection_not_found" });
    const claims = seen.map((h) => decodeJwt(h.replace(/^Bearer /, "")));
    assert.equal(new Set(claims.map((c) => c.jti)).size, 3);
    assert.ok(claims.every((c) => c.aud === "http://127.0.0.1:9" && c.iss === agentId && c.sub === agentId));
  });

  it("uses `audience` when the Gateway's public URL is not the baseUrl's origin", async () => {
    const { privateJwk } = await keyPair("ES256", "k1");
    const { fetch, seen } = recordingFetch();
    const client = createNexusClient({ baseUrl: "http://127.0.0.1:9", audience, agent: { id: agentId, privateJwk }, fetch, logger: {} });
    await assert.rejects(client.getToken(agentId));
    assert.equal(decodeJwt(seen[0]!.replace(/^Bearer /, "")).aud, audience);
  });

  it("calls a signer function for every request", async () => {
    let calls = 0;
    const { privateJwk } = await keyPair("EdDSA", "k1");
    const inner = createAssertionSigner({ agentId, privateJwk, audience });
    const { fetch, seen } = recordingFetch();
    const client = createNexusClient({ baseUrl: audience, agent: { id: agentId, signer: () => (calls++, inner()) }, fetch, logger: {} });
    await assert.rejects(client.refresh(agentId));
    await assert.rejects(client.resolveToken("alice", "github"));
    assert.equal(calls, 2);
    assert.equal(seen.length, 2);
  });

  it("fails a call with assertion_signing_failed, sending nothing, when the signer throws or returns no JWT", async () => {
    const { fetch, seen } = recordingFetch();
    for (const signer of [async () => { throw new TypeError("the KMS is unreachable"); }, async () => "not a jwt"]) {
      const client = createNexusClient({ baseUrl: audience, agent: { id: agentId, signer }, fetch, logger: {} });
      const error = await client.getToken(agentId).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof NexusClientError, String(error));
      assert.deepEqual([error.reason, error.code, error.retryable], ["assertion_signing_failed", "internal", false]);
    }
    assert.equal(seen.length, 0);
  });

  it("takes an API key or an agent, never both or neither", async () => {
    const { privateJwk } = await keyPair("ES256", "k1");
    const invalid = { reason: "invalid_argument" };
    assert.throws(() => createNexusClient({ baseUrl: audience }), invalid);
    assert.throws(() => createNexusClient({ baseUrl: audience, apiKey: "nxa_x", agent: { id: agentId, privateJwk } }), invalid);
    assert.throws(() => createNexusClient({ baseUrl: audience, apiKey: " " }), invalid);
    assert.throws(() => createNexusClient({ baseUrl: audience, agent: { id: agentId } }), invalid);
    assert.throws(() => createNexusClient({ baseUrl: audience, agent: { id: "", signer: async () => "a.b.c" } }), invalid);
  });
});
