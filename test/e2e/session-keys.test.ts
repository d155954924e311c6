/**
 * Session signing keys (issue 17): rotated without downtime and moved to a
 * new vault key without breaking a session.
 *
 * Rotation (POST /session-keys/rotate): a session signed before keeps
 * verifying and exchanging until it expires, the JWKS at the Gateway lists
 * the new and the previous key (on every Broker), new sessions carry the new
 * kid, and the previous key leaves the JWKS once no token it signed can be
 * live. The Broker runs on an injected clock.
 *
 * Rewrap: the sealed private keys move to a new vault key with the other
 * secrets; a Broker holding only the new vault key still verifies the old
 * sessions and signs new ones with the same signing key.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createSealedValueRepository } from "../../src/broker/repositories/sealed-value-repository.ts";
import { createVaultQuarantineRepository } from "../../src/broker/repositories/vault-quarantine-repository.ts";
import { rewrapAll } from "../../src/broker/services/key-rotation-service.ts";
import { createKeyRing } from "../../src/broker/vault/key-ring.ts";
import { createVault } from "../../src/broker/vault/vault.ts";
import { type RunningService, startBroker } from "../../src/runtime/node/start-broker.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { brokerRest } from "../support/broker-api.ts";
import { decodeJwt, sessionClients, type SessionStack, type SessionTestClient, startSessionStack, assertExchangeRefused } from "../support/sessions.ts";

const maxTtlSeconds = 600;

describe("session key rotation", () => {
  let f: SessionStack;
  let skewMs = 0;
  let a: SessionTestClient;
  let b: SessionTestClient;
  let broker2: RunningService;
  let gateway2: RunningService;
  const jwksAt = async (url: string) => ((await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; d?: unknown }[] }).keys;

  before(async () => {
    f = await startSessionStack({ now: () => Date.now() + skewMs, brokerEnv: { SESSION_MAX_TTL_SECONDS: String(maxTtlSeconds) }, idp: { accessTokenTtl: 3600 } });
    a = sessionClients.REST(f.gatewayUrl, f.agents.A.apiKey);
    b = sessionClients.REST(f.gatewayUrl, f.agents.B.apiKey);
    // Another Broker on the same database (wall clock), behind a Gateway naming the same issuer.
    broker2 = await startBroker(f.stack.brokerEnv, { port: 0, logWrite: () => {} });
    gateway2 = await startGateway({ ...f.gatewayEnv, BROKER_URL: broker2.url }, { port: 0, logWrite: () => {} });
  });
  after(async () => {
    await gateway2?.close();
    await broker2?.close();
    await f?.close();
  });

  it("keeps a session signed before the rotation working until it expires, publishes both keys, and signs new sessions with the new one", async () => {
    const old = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid", "profile"], ttl_seconds: 300 });
    const oldKid = String(decodeJwt(old.session_token).header.kid);
    assert.deepEqual((await jwksAt(f.gatewayUrl)).map((k) => k.kid), [oldKid]);
    // The second Broker has read the key list too (and caches it).
    const b2 = sessionClients.REST(gateway2.url, f.agents.B.apiKey);
    assert.equal((await b2.exchange({ subject_token: old.session_token })).scope, "openid profile");

    const refused = await brokerRest(f.stack, "POST", "/session-keys/rotate", {}, { "x-api-key": "not-the-admin-key" });
    assert.equal(refused.status, 401, "only an operator rotates");
    const rotated = await brokerRest(f.stack, "POST", "/session-keys/rotate", {});
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const newKid = String(rotated.body.kid);
    assert.notEqual(newKid, oldKid);

    const jwks = await jwksAt(f.gatewayUrl);
    assert.deepEqual(jwks.map((k) => k.kid), [newKid, oldKid], "current first, then the previous");
    assert.ok(jwks.every((k) => k.d === undefined), "public halves only");
    const fresh = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid"], ttl_seconds: 300 });
    assert.equal(decodeJwt(fresh.session_token).header.kid, newKid);
    assert.equal((await b.exchange({ subject_token: old.session_token })).scope, "openid profile", "signed before the rotation");
    assert.equal((await b.exchange({ subject_token: fresh.session_token })).scope, "openid");
    // Every Broker verifies the new kid at once (a kid it has not seen makes it read the keys again).
    assert.equal((await b2.exchange({ subject_token: fresh.session_token })).scope, "openid");
    assert.equal((await b2.exchange({ subject_token: old.session_token })).scope, "openid profile");

    // Until it expires, and not a second longer.
    skewMs += 301_000;
    await assertExchangeRefused(b.exchange({ subject_token: old.session_token }), "invalid_grant", "the old session after its expiry");
    // The previous key stays published while any token it signed may be live (the longest session lifetime), then goes.
    assert.deepEqual((await jwksAt(f.gatewayUrl)).map((k) => k.kid), [newKid, oldKid]);
    skewMs += (maxTtlSeconds + 61) * 1000;
    assert.deepEqual((await jwksAt(f.gatewayUrl)).map((k) => k.kid), [newKid]);
    skewMs = 0;
  });

  it("publishes a rotated key in every Broker's JWKS within about a second (a list at most 1 s old)", async () => {
    // A resource server may fetch the JWKS from any replica as soon as it meets a token with the new kid.
    assert.ok((await jwksAt(gateway2.url)).length >= 1);
    const rotated = await brokerRest(f.stack, "POST", "/session-keys/rotate", {});
    const newKid = String(rotated.body.kid);
    const started = performance.now();
    let kids: string[] = [];
    while (performance.now() - started < 1500) {
      kids = (await jwksAt(gateway2.url)).map((k) => k.kid);
      if (kids[0] === newKid) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(kids[0], newKid, `the second Broker's JWKS still lists ${kids.join(", ")} ${Math.round(performance.now() - started)} ms after the rotation`);
  });
});

describe("session signing keys under a vault key rotation (rewrap)", () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  let f: SessionStack;
  const extra: RunningService[] = [];

  before(async () => {
    f = await startSessionStack({ brokerEnv: { ENCRYPTION_KEY: "", ENCRYPTION_KEYS: `old:${oldKey.toString("base64")}` } });
  });
  after(async () => {
    for (const s of extra.reverse()) await s.close();
    await f?.close();
  });

  it("moves the sealed signing key to the new vault key, and sessions keep verifying on a Broker without the old one", async () => {
    const a = sessionClients.REST(f.gatewayUrl, f.agents.A.apiKey);
    const before = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid"], ttl_seconds: 600 });
    const kid = String(decodeJwt(before.session_token).header.kid);
    assert.deepEqual([...await f.stack.db.sql`select kid, key_id from session_signing_keys`], [{ kid, keyId: "old" }]);

    // The documented rotation: both keys loaded, the new one active, then rewrap.
    const both = createVault(createKeyRing(new Map([["old", oldKey], ["new", newKey]]), "new"));
    const report = await rewrapAll({ sealed: createSealedValueRepository(f.stack.db.sql), quarantine: createVaultQuarantineRepository(f.stack.db.sql), rewrapper: both });
    assert.equal(report.moved.session_signing_key, 1);
    assert.deepEqual({ quarantined: report.quarantined, leftBehind: report.leftBehind }, { quarantined: [], leftBehind: [] });
    assert.deepEqual([...await f.stack.db.sql`select kid, key_id from session_signing_keys`], [{ kid, keyId: "new" }]);

    // A Broker with only the new vault key: it refuses to start if any row were still sealed with the old one.
    const env = { ...f.stack.brokerEnv, ENCRYPTION_KEYS: `new:${newKey.toString("base64")}` };
    const broker = await startBroker(env, { port: 0, logWrite: () => {} });
    extra.push(broker);
    const gateway = await startGateway({ ...f.gatewayEnv, BROKER_URL: broker.url }, { port: 0, logWrite: () => {} });
    extra.push(gateway);
    const b = sessionClients.REST(gateway.url, f.agents.B.apiKey);
    assert.equal((await b.exchange({ subject_token: before.session_token })).scope, "openid", "a session signed before the rewrap");
    const after = await sessionClients.REST(gateway.url, f.agents.A.apiKey).createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid"], ttl_seconds: 60 });
    assert.equal(decodeJwt(after.session_token).header.kid, kid, "the same signing key, opened with the new vault key");
    assert.equal((await b.exchange({ subject_token: after.session_token })).scope, "openid");
  });
});
