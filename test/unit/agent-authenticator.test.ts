/**
 * The Broker's agent authenticator (src/broker/services/agent-authenticator.ts)
 * with fakes: an in-memory agent store that counts its reads, an in-memory
 * assertion ledger, the real agent cache, and a clock the test sets. Each
 * assertion rule is checked at its edges, including the 30 s clock skew.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { exportJWK, exportSPKI, SignJWT } from "jose";
import { type Agent, keyDigest, newAgentKey } from "../../src/broker/domain/agent.ts";
import type { AssertionLedger } from "../../src/broker/domain/ports.ts";
import type { JsonObject } from "../../src/broker/domain/provider.ts";
import { type AgentAuthenticator, createAgentAuthenticator } from "../../src/broker/services/agent-authenticator.ts";
import { createAgentCache } from "../../src/broker/services/agent-cache.ts";
import { NexusError } from "../../src/shared/errors.ts";
import { type AgentKeyPair, agentKeyPair, assertionClaims, type AssertionSpec, b64json, signAssertion } from "../support/agents.ts";

const audience = "https://gateway.nexus.test";
/** The test's "now", a whole second, in ms. */
const t0 = 1_900_000_000_000;
const nowS = t0 / 1000;

const keys = {
  es: await agentKeyPair("ES256", "es"),
  ed: await agentKeyPair("EdDSA", "ed"),
  rs: await agentKeyPair("RS256", "rs"),
  ps: await agentKeyPair("PS256", "ps"),
  other: await agentKeyPair("ES256", "other"),
};

function agentRecord(id: string, options: { digest?: string | null; jwks?: AgentKeyPair[]; disabled?: boolean; version?: bigint } = {}): Agent {
  return {
    id, name: `agent-${id.slice(0, 8)}`, description: "", allowedProviders: [],
    jwks: options.jwks === undefined ? null : ({ keys: options.jwks.map((k) => k.publicJwk) } as unknown as JsonObject),
    keyDigest: options.digest ?? null, createdAt: new Date(t0), updatedAt: new Date(t0),
    disabledAt: options.disabled ? new Date(t0) : null, version: options.version ?? 1n,
  };
}

/** An authenticator over fakes, with one agent that has a key and every test key pair registered. */
async function setup() {
  let now = t0;
  const agents = new Map<string, Agent>();
  const reads: string[] = [];
  const store = {
    get: async (id: string) => {
      reads.push(id);
      return agents.get(id);
    },
  };
  const seen = new Map<string, Date>();
  const ledger: AssertionLedger = {
    async remember(agentId, jti, expiresAt) {
      const k = `${agentId}/${jti}`;
      if (seen.has(k)) return false;
      seen.set(k, expiresAt);
      return true;
    },
  };
  const cache = createAgentCache({ now: () => now, ttlMs: 60_000, maxEntries: 100 });
  cache.trust(true);
  const make = (): AgentAuthenticator => createAgentAuthenticator({ agents: store, ledger, cache, now: () => now });
  const id = randomUUID();
  const apiKey = newAgentKey(id);
  agents.set(id, agentRecord(id, { digest: await keyDigest(apiKey), jwks: [keys.es, keys.ed, keys.rs, keys.ps] }));
  const other = randomUUID();
  agents.set(other, agentRecord(other, { jwks: [keys.other] }));
  const auth = make();
  return {
    id, apiKey, other, agents, reads, seen, cache, auth, make,
    setNow: (ms: number) => void (now = ms),
    /** Replaces an agent's record as an update would (a new version), and drops it from the cache as the change feed would. */
    change(agentId: string, record: Agent) {
      agents.set(agentId, record);
      cache.invalidate(agentId);
    },
    /** Signs with `key` as the agent, at the test's clock. */
    sign: (key: AgentKeyPair, spec: Partial<AssertionSpec> = {}) => signAssertion(key, { agentId: id, audience, now: nowS, ...spec }),
  };
}

async function refused(p: Promise<unknown>, reason: string, message?: RegExp): Promise<NexusError> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof NexusError, `expected NexusError ${reason}, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    if (message !== undefined) assert.match(error.message, message);
    return error;
  }
  assert.fail(`expected a refusal with ${reason}`);
}

describe("agent authenticator: API keys", () => {
  it("authenticate() accepts the agent's current key and answers its record", async () => {
    const t = await setup();
    assert.equal((await t.auth.authenticate(t.apiKey, audience)).id, t.id);
  });

  it("authenticate() reads the agent once, then answers from the cache until the agent changes", async () => {
    const t = await setup();
    await t.auth.authenticate(t.apiKey, audience);
    await t.auth.authenticate(t.apiKey, audience);
    assert.deepEqual(t.reads, [t.id]);
    t.cache.invalidate(t.id);
    await t.auth.authenticate(t.apiKey, audience);
    assert.deepEqual(t.reads, [t.id, t.id]);
  });

  it("authenticate() refuses another key naming the same agent with agent_key_invalid", async () => {
    const t = await setup();
    await refused(t.auth.authenticate(newAgentKey(t.id), audience), "agent_key_invalid");
  });

  it("authenticate() refuses a rotated-away key as soon as the change reaches the cache, and accepts the new one", async () => {
    const t = await setup();
    await t.auth.authenticate(t.apiKey, audience);
    const fresh = newAgentKey(t.id);
    t.change(t.id, { ...t.agents.get(t.id)!, keyDigest: await keyDigest(fresh), version: 2n });
    await refused(t.auth.authenticate(t.apiKey, audience), "agent_key_invalid");
    assert.equal((await t.auth.authenticate(fresh, audience)).id, t.id);
  });

  it("authenticate() refuses a typo, junk and keys in other formats without reading the store", async () => {
    const t = await setup();
    const typo = `${t.apiKey.slice(0, 40)}${t.apiKey[40] === "a" ? "b" : "a"}${t.apiKey.slice(41)}`;
    for (const junk of [typo, "nxa_", "nxa_garbage", "not a key", "agent-key-from-AGENT_API_KEYS", "a.b", "a.b.c.d.e"]) {
      await refused(t.auth.authenticate(junk, audience), "agent_key_invalid");
    }
    assert.deepEqual(t.reads, []);
  });

  it("authenticate() refuses a well-formed key naming no agent, and the key of an agent without one", async () => {
    const t = await setup();
    await refused(t.auth.authenticate(newAgentKey(randomUUID()), audience), "agent_key_invalid");
    await refused(t.auth.authenticate(newAgentKey(t.other), audience), "agent_key_invalid");
  });

  it("authenticate() refuses a disabled agent's key with agent_disabled, and a wrong key of it as just a wrong key", async () => {
    const t = await setup();
    t.change(t.id, { ...t.agents.get(t.id)!, disabledAt: new Date(t0), version: 2n });
    await refused(t.auth.authenticate(t.apiKey, audience), "agent_disabled");
    await refused(t.auth.authenticate(newAgentKey(t.id), audience), "agent_key_invalid");
  });
});

describe("agent authenticator: signed assertions", () => {
  for (const name of ["es", "ed", "rs", "ps"] as const) {
    it(`authenticate() accepts an assertion signed with the agent's ${keys[name].alg} key and records its jti until it expires`, async () => {
      const t = await setup();
      const jti = randomUUID();
      assert.equal((await t.auth.authenticate(await t.sign(keys[name], { jti, expiresIn: 120 }), audience)).id, t.id);
      assert.deepEqual([...t.seen], [[`${t.id}/${jti}`, new Date(t0 + 120_000)]]);
    });
  }

  it("authenticate() accepts an aud array that holds the Gateway's URL, and refuses one that does not", async () => {
    const t = await setup();
    const sign = (aud: string[]) => new SignJWT({ ...assertionClaims({ agentId: t.id, audience, now: nowS }), aud }).setProtectedHeader({ alg: "ES256", kid: "es" }).sign(keys.es.privateKey);
    assert.equal((await t.auth.authenticate(await sign(["https://elsewhere.example", audience]), audience)).id, t.id);
    await refused(t.auth.authenticate(await sign(["https://elsewhere.example"]), audience), "assertion_invalid", /aud/);
  });

  describe("clock edges (skew 30 s either way)", () => {
    it("exp exactly 5 min + 30 s ahead is accepted; 1 s more is refused", async () => {
      const t = await setup();
      assert.equal((await t.auth.authenticate(await t.sign(keys.es, { expiresIn: 330 }), audience)).id, t.id);
      await refused(t.auth.authenticate(await t.sign(keys.es, { expiresIn: 331 }), audience), "assertion_invalid", /exp is more than 5 minutes ahead/);
    });

    it("exp 29 s ago is accepted; 30 s ago is assertion_expired", async () => {
      const t = await setup();
      assert.equal((await t.auth.authenticate(await t.sign(keys.es, { expiresIn: -29, issuedAt: -60 }), audience)).id, t.id);
      await refused(t.auth.authenticate(await t.sign(keys.es, { expiresIn: -30, issuedAt: -60 }), audience), "assertion_expired");
    });

    it("iat 30 s ahead is accepted; 31 s ahead is refused as in the future", async () => {
      const t = await setup();
      assert.equal((await t.auth.authenticate(await t.sign(keys.es, { issuedAt: 30, expiresIn: 60 }), audience)).id, t.id);
      await refused(t.auth.authenticate(await t.sign(keys.es, { issuedAt: 31, expiresIn: 60 }), audience), "assertion_invalid", /iat is in the future/);
    });

    it("nbf 30 s ahead is accepted; 31 s ahead is refused", async () => {
      const t = await setup();
      const sign = (nbf: number) => new SignJWT({ ...assertionClaims({ agentId: t.id, audience, now: nowS }), nbf: nowS + nbf }).setProtectedHeader({ alg: "ES256", kid: "es" }).sign(keys.es.privateKey);
      assert.equal((await t.auth.authenticate(await sign(30), audience)).id, t.id);
      await refused(t.auth.authenticate(await sign(31), audience), "assertion_invalid", /nbf/);
    });

    it("follows the injected clock: an assertion valid now is expired 90 s later", async () => {
      const t = await setup();
      const jwt = await t.sign(keys.es, { expiresIn: 60 });
      t.setNow(t0 + 90_000);
      await refused(t.auth.authenticate(jwt, audience), "assertion_expired");
      t.setNow(t0);
      assert.equal((await t.auth.authenticate(jwt, audience)).id, t.id);
    });
  });

  describe("jti", () => {
    it("refuses a replay, on this authenticator and on another sharing the ledger (another Broker)", async () => {
      const t = await setup();
      const jwt = await t.sign(keys.es);
      await t.auth.authenticate(jwt, audience);
      await refused(t.auth.authenticate(jwt, audience), "assertion_replayed");
      await refused(t.make().authenticate(jwt, audience), "assertion_replayed");
    });

    it("keeps jtis per agent: another agent may use the same jti", async () => {
      const t = await setup();
      const jti = "shared-jti";
      await t.auth.authenticate(await t.sign(keys.es, { jti }), audience);
      assert.equal((await t.auth.authenticate(await signAssertion(keys.other, { agentId: t.other, audience, now: nowS, jti }), audience)).id, t.other);
    });

    it("refuses a missing, empty or over-long jti; 256 characters are fine", async () => {
      const t = await setup();
      await refused(t.auth.authenticate(await t.sign(keys.es, { jti: null }), audience), "assertion_invalid", /jti/);
      await refused(t.auth.authenticate(await t.sign(keys.es, { jti: "" }), audience), "assertion_invalid", /jti/);
      await refused(t.auth.authenticate(await t.sign(keys.es, { jti: "j".repeat(257) }), audience), "assertion_invalid", /jti/);
      assert.equal((await t.auth.authenticate(await t.sign(keys.es, { jti: "j".repeat(256) }), audience)).id, t.id);
    });

    it("records no jti for an assertion it refuses, so a bad assertion burns nothing", async () => {
      const t = await setup();
      const jti = randomUUID();
      await refused(t.auth.authenticate(await t.sign(keys.es, { jti, audience: "https://elsewhere.example" }), audience), "assertion_invalid");
      await refused(t.auth.authenticate(await t.sign(keys.es, { jti, expiresIn: 400 }), audience), "assertion_invalid");
      assert.equal(t.seen.size, 0);
      assert.equal((await t.auth.authenticate(await t.sign(keys.es, { jti }), audience)).id, t.id);
    });
  });

  describe("who signed it", () => {
    it("refuses iss that is not a UUID, names no agent, or is another agent; sub other than iss; a missing exp", async () => {
      const t = await setup();
      await refused(t.auth.authenticate(await t.sign(keys.es, { iss: "agent-e" }), audience), "assertion_invalid", /iss must be the agent id/);
      await refused(t.auth.authenticate(await t.sign(keys.es, { iss: randomUUID() }), audience), "assertion_invalid", /iss names no registered agent/);
      await refused(t.auth.authenticate(await t.sign(keys.es, { iss: t.other }), audience), "assertion_invalid", /kid/);
      await refused(t.auth.authenticate(await t.sign(keys.es, { sub: t.other }), audience), "assertion_invalid", /sub/);
      const { exp: _exp, ...noExp } = assertionClaims({ agentId: t.id, audience, now: nowS });
      await refused(t.auth.authenticate(await new SignJWT(noExp).setProtectedHeader({ alg: "ES256", kid: "es" }).sign(keys.es.privateKey), audience), "assertion_invalid", /exp/);
    });

    it("refuses a wrong audience, and any assertion when it has no audience to check", async () => {
      const t = await setup();
      await refused(t.auth.authenticate(await t.sign(keys.es, { audience: `${audience}/` }), audience), "assertion_invalid", /aud/);
      await refused(t.auth.authenticate(await t.sign(keys.es), ""), "assertion_invalid", /no audience/);
    });

    it("refuses an unknown kid, a missing kid, another agent's kid, and the agent's kid over another key's signature", async () => {
      const t = await setup();
      await refused(t.auth.authenticate(await t.sign(keys.es, { kid: "nope" }), audience), "assertion_invalid", /kid/);
      const noKid = await new SignJWT(assertionClaims({ agentId: t.id, audience, now: nowS })).setProtectedHeader({ alg: "ES256" }).sign(keys.es.privateKey);
      await refused(t.auth.authenticate(noKid, audience), "assertion_invalid", /kid/);
      await refused(t.auth.authenticate(await t.sign(keys.other), audience), "assertion_invalid", /kid/);
      await refused(t.auth.authenticate(await t.sign({ ...keys.other, kid: "es" }), audience), "assertion_invalid", /signature/);
    });

    it("refuses a key used with an alg of another family (an RSA key named with ES256)", async () => {
      const t = await setup();
      const jwt = await new SignJWT(assertionClaims({ agentId: t.id, audience, now: nowS })).setProtectedHeader({ alg: "ES256", kid: "rs" }).sign(keys.es.privateKey);
      await refused(t.auth.authenticate(jwt, audience), "assertion_invalid");
    });

    it("refuses a disabled agent's valid assertion with agent_disabled, recording nothing", async () => {
      const t = await setup();
      t.change(t.id, { ...t.agents.get(t.id)!, disabledAt: new Date(t0), version: 2n });
      await refused(t.auth.authenticate(await t.sign(keys.es), audience), "agent_disabled");
      assert.equal(t.seen.size, 0);
    });

    it("refuses an agent that registered no keys", async () => {
      const t = await setup();
      const bare = randomUUID();
      t.agents.set(bare, agentRecord(bare));
      await refused(t.auth.authenticate(await signAssertion(keys.es, { agentId: bare, audience, now: nowS }), audience), "assertion_invalid", /kid/);
    });

    it("uses the keys of the agent's current record: a key removed from its JWKS stops working once the change arrives", async () => {
      const t = await setup();
      await t.auth.authenticate(await t.sign(keys.es), audience);
      t.change(t.id, agentRecord(t.id, { digest: t.agents.get(t.id)!.keyDigest, jwks: [keys.ed], version: 2n }));
      await refused(t.auth.authenticate(await t.sign(keys.es), audience), "assertion_invalid", /kid/);
      assert.equal((await t.auth.authenticate(await t.sign(keys.ed), audience)).id, t.id);
    });
  });

  describe("algorithms", () => {
    it("refuses alg none, signed or not, saying the alg is not accepted", async () => {
      const t = await setup();
      const header = (alg: string) => b64json({ alg, kid: "es", typ: "JWT" });
      const claims = b64json(assertionClaims({ agentId: t.id, audience, now: nowS }));
      for (const jwt of [`${header("none")}.${claims}.`, `${header("none")}.${claims}.c2ln`, `${header("None")}.${claims}.`]) {
        await refused(t.auth.authenticate(jwt, audience), "assertion_invalid", /is not accepted/);
      }
    });

    it("refuses HS256 signed with the agent's public key as the secret (PEM, JWK JSON and the raw modulus)", async () => {
      const t = await setup();
      const secrets = [
        await exportSPKI(keys.rs.publicKey),
        JSON.stringify(keys.rs.publicJwk),
        JSON.stringify(await exportJWK(keys.rs.publicKey)),
        String(keys.rs.publicJwk.n),
      ];
      for (const secret of secrets) {
        for (const kid of ["rs", "es"]) {
          const jwt = await new SignJWT(assertionClaims({ agentId: t.id, audience, now: nowS })).setProtectedHeader({ alg: "HS256", kid }).sign(new TextEncoder().encode(secret));
          await refused(t.auth.authenticate(jwt, audience), "assertion_invalid", /alg "HS256" is not accepted/);
        }
      }
    });

    it("refuses a JWT that is not valid base64url JSON", async () => {
      const t = await setup();
      await refused(t.auth.authenticate("eyJub3QiOiJqc29u.bm90IGpzb24.c2ln", audience), "assertion_invalid", /not a JWT/);
      assert.deepEqual(t.reads, []);
    });
  });
});
