import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sealedFields } from "../../src/broker/domain/sealed-fields.ts";
import { createSealedValueRepository } from "../../src/broker/repositories/sealed-value-repository.ts";
import { createVaultKeyCheckRepository } from "../../src/broker/repositories/vault-key-check-repository.ts";
import { verifyKeyChecks } from "../../src/broker/services/key-check-service.ts";
import { createKeyRing } from "../../src/broker/vault/key-ring.ts";
import { createVault, type Vault } from "../../src/broker/vault/vault.ts";
import { startBroker } from "../../src/runtime/node/start-broker.ts";
import { NexusError } from "../../src/shared/errors.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testBrokerEnv } from "../support/stack.ts";

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const vaultOf = (key: Uint8Array, kid = "primary") => createVault(createKeyRing(new Map([[kid, new Uint8Array(key)]]), kid));

/** Every way a key or its check value could show in text. */
function leaks(text: string, keys: Uint8Array[], checkValues: string[]): boolean {
  return keys.some((k) => [Buffer.from(k).toString("base64"), Buffer.from(k).toString("base64url"), Buffer.from(k).toString("hex")]
    .some((form) => text.includes(form))) || checkValues.some((v) => text.includes(v));
}

async function checkRows(db: TestDatabase): Promise<{ keyId: string; checkValue: string }[]> {
  return (await db.sql<{ keyId: string; checkValue: string }[]>`select key_id, check_value from vault_key_checks order by key_id`).map((r) => ({ ...r }));
}

describe("key check values at Broker start", () => {
  let db: TestDatabase;
  const logs: string[] = [];
  const adminKey = `admin-${randomUUID()}`;
  const start = (key: Uint8Array, extra: Record<string, string> = {}) =>
    startBroker(testBrokerEnv(db.url, adminKey, { ENCRYPTION_KEY: Buffer.from(key).toString("base64"), ...extra }), { port: 0, logWrite: (l) => void logs.push(l) });
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.close());

  it("startBroker() records the check value of each key id on first start, and two Brokers starting together agree", async () => {
    const brokers = await Promise.all([start(keyA), start(keyA)]);
    await Promise.all(brokers.map((b) => b.close()));
    assert.deepEqual(await checkRows(db), [{ keyId: "primary", checkValue: vaultOf(keyA).keyCheckValue("primary") }]);
    await (await start(keyA)).close();
  });

  it("startBroker() refuses other key material under a known key id, naming the id and no key bytes", async () => {
    let caught: unknown;
    await start(keyB).then((b) => b.close(), (e: unknown) => void (caught = e));
    assert.ok(caught instanceof NexusError, `expected a NexusError, got ${String(caught)}`);
    assert.equal(caught.reason, "key_unknown");
    assert.match(caught.message, /key id "primary"/);
    assert.match(caught.message, /not the key this database's secrets were sealed with/);
    const checkValues = [vaultOf(keyA).keyCheckValue("primary"), vaultOf(keyB).keyCheckValue("primary")];
    assert.ok(!leaks(`${caught.message}\n${caught.stack}\n${logs.join("")}`, [keyA, keyB], checkValues), "a key or check value was shown");
    assert.equal((await checkRows(db)).length, 1);
  });

  it("startBroker() records a key id added for rotation next to the old one", async () => {
    const next = randomBytes(32);
    const broker = await start(keyA, {
      ENCRYPTION_KEY: "", ENCRYPTION_KEYS: `primary:${keyA.toString("base64")},k2:${next.toString("base64")}`, ENCRYPTION_ACTIVE_KEY: "k2",
    });
    await broker.close();
    assert.deepEqual((await checkRows(db)).map((r) => r.keyId), ["k2", "primary"]);
  });
});

describe("verifyKeyChecks() on a database sealed before check values existed", () => {
  let db: TestDatabase;
  const deps = (vault: Vault) => ({ checks: createVaultKeyCheckRepository(db.sql), sealed: createSealedValueRepository(db.sql), vault });
  before(async () => {
    db = await createTestDatabase();
    const pid = randomUUID();
    await db.sql`insert into providers (id, name, auth_type, client_secret_ct, key_id) values (${pid}, 'legacy', 'oauth2',
      ${vaultOf(keyA).seal("s3cret", { ...sealedFields.providerClientSecret, rowId: pid })}, 'primary')`;
  });
  after(() => db.close());

  it("refuses, and records nothing, when the stored secrets do not open with the loaded key", async () => {
    await assert.rejects(verifyKeyChecks(deps(vaultOf(keyB))), (e: unknown) =>
      e instanceof NexusError && e.reason === "key_unknown" && /key id "primary"/.test(e.message));
    assert.deepEqual(await checkRows(db), []);
  });

  it("records the check value once a stored secret opens with the loaded key", async () => {
    await verifyKeyChecks(deps(vaultOf(keyA)));
    assert.deepEqual(await checkRows(db), [{ keyId: "primary", checkValue: vaultOf(keyA).keyCheckValue("primary") }]);
  });
});
