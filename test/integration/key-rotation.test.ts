import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sealedFields } from "../../src/broker/domain/sealed-fields.ts";
import { createSealedValueRepository } from "../../src/broker/repositories/sealed-value-repository.ts";
import { assertKeysLoaded, rewrapAll } from "../../src/broker/services/key-rotation-service.ts";
import { createKeyRing } from "../../src/broker/vault/key-ring.ts";
import { createVault, type Vault } from "../../src/broker/vault/vault.ts";
import { NexusError } from "../../src/shared/errors.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

const oldKey = randomBytes(32);
const newKey = randomBytes(32);
const vaultOld = createVault(createKeyRing(new Map([["old", oldKey]]), "old"));
const vaultBoth = createVault(createKeyRing(new Map([["old", oldKey], ["new", newKey]]), "new"));
const vaultNew = createVault(createKeyRing(new Map([["new", newKey]]), "new"));

interface Expected { providers: Map<string, string>; secrets: Map<string, string>; refresh: Map<string, string>; verifiers: Map<string, string> }

async function seed(db: TestDatabase, vault: Vault, n: number, expected: Expected): Promise<void> {
  for (let i = 0; i < n; i++) {
    const pid = randomUUID();
    const secret = `client-secret-${i}-${randomUUID()}`;
    await db.sql`insert into providers (id, name, auth_type, client_secret_ct, key_id)
      values (${pid}, ${`p-${pid.slice(0, 8)}`}, 'oauth2', ${vault.seal(secret, { ...sealedFields.providerClientSecret, rowId: pid })}, ${vault.activeKeyId})`;
    expected.providers.set(pid, secret);
    const cid = randomUUID();
    await db.sql`insert into connections (id, workspace_id, provider_id, status, return_url) values (${cid}, 'ws', ${pid}, 'active', 'https://app.example.com/')`;
    const cred = JSON.stringify({ access_token: `at-${i}` });
    const rt = i % 3 === 0 ? null : `rt-${i}-${randomUUID()}`;
    await db.sql`insert into credentials (connection_id, key_id, secret_ct, refresh_ct) values (${cid}, ${vault.activeKeyId},
      ${vault.seal(cred, { ...sealedFields.credentialSecret, rowId: cid })},
      ${rt === null ? null : vault.seal(rt, { ...sealedFields.credentialRefreshToken, rowId: cid })})`;
    expected.secrets.set(cid, cred);
    if (rt !== null) expected.refresh.set(cid, rt);
    const hid = randomUUID();
    const verifier = `verifier-${i}`;
    await db.sql`insert into handshakes (id, connection_id, provider_id, kind, key_id, verifier_ct, return_url, expires_at)
      values (${hid}, ${cid}, ${pid}, 'oauth2', ${vault.activeKeyId}, ${vault.seal(verifier, { ...sealedFields.handshakeVerifier, rowId: hid })},
      'https://app.example.com/', now() + interval '10 minutes')`;
    expected.verifiers.set(hid, verifier);
  }
}

describe("key rotation over the database", () => {
  let db: TestDatabase;
  const expected: Expected = { providers: new Map(), secrets: new Map(), refresh: new Map(), verifiers: new Map() };
  before(async () => {
    db = await createTestDatabase();
    await seed(db, vaultOld, 450, expected);
  });
  after(() => db.close());

  it("assertKeysLoaded() refuses to start when a row names a key id that is not loaded", async () => {
    const store = createSealedValueRepository(db.sql);
    await assert.rejects(assertKeysLoaded(store, ["new"]), (e: unknown) =>
      e instanceof NexusError && e.reason === "key_unknown" && /"old"/.test(e.message));
    await assertKeysLoaded(store, ["old", "new"]);
  });

  it("rewrapAll() moves every row to the new key and loses nothing", async () => {
    const store = createSealedValueRepository(db.sql);
    const moved = await rewrapAll(store, vaultBoth, 100);
    assert.deepEqual(moved, { provider_client_secret: 450, credential: 450, handshake_verifier: 450 });
    assert.deepEqual(await store.keyIdsInUse(), ["new"]);
    // The old key can now be dropped: everything opens with the new key alone.
    await assertKeysLoaded(store, ["new"]);
    for (const r of await db.sql`select id, client_secret_ct from providers`) {
      assert.equal(vaultNew.openText(r.clientSecretCt, { ...sealedFields.providerClientSecret, rowId: r.id }), expected.providers.get(r.id));
    }
    for (const r of await db.sql`select connection_id, secret_ct, refresh_ct from credentials`) {
      assert.equal(vaultNew.openText(r.secretCt, { ...sealedFields.credentialSecret, rowId: r.connectionId }), expected.secrets.get(r.connectionId));
      const rt = r.refreshCt === null ? undefined : vaultNew.openText(r.refreshCt, { ...sealedFields.credentialRefreshToken, rowId: r.connectionId });
      assert.equal(rt, expected.refresh.get(r.connectionId));
    }
    for (const r of await db.sql`select id, verifier_ct from handshakes`) {
      assert.equal(vaultNew.openText(r.verifierCt, { ...sealedFields.handshakeVerifier, rowId: r.id }), expected.verifiers.get(r.id));
    }
    assert.equal((await db.sql`select count(*)::int as n from credentials where version = 2`)[0]!.n, 450);
  });

  it("rewrapAll() run again changes nothing", async () => {
    const before = await db.sql`select connection_id, secret_ct from credentials order by connection_id`;
    const moved = await rewrapAll(createSealedValueRepository(db.sql), vaultBoth, 100);
    assert.deepEqual(moved, { provider_client_secret: 0, credential: 0, handshake_verifier: 0 });
    assert.deepEqual(await db.sql`select connection_id, secret_ct from credentials order by connection_id`, before);
  });

  it("no plaintext secret is stored anywhere in the rows", async () => {
    const dump = JSON.stringify([
      ...(await db.sql`select * from providers`), ...(await db.sql`select * from credentials`), ...(await db.sql`select * from handshakes`),
    ], (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    for (const v of [...expected.providers.values(), ...expected.refresh.values(), ...expected.verifiers.values()]) {
      assert.ok(!dump.includes(v), "a plaintext secret is in the database");
    }
    assert.ok(!dump.includes("at-1\""));
  });
});
