import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sealedFields } from "../../src/broker/domain/sealed-fields.ts";
import { createSealedValueRepository } from "../../src/broker/repositories/sealed-value-repository.ts";
import { createVaultQuarantineRepository } from "../../src/broker/repositories/vault-quarantine-repository.ts";
import { assertKeysLoaded, rewrapAll, type RewrapOptions } from "../../src/broker/services/key-rotation-service.ts";
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

/** rewrapAll() over `db` with the repositories and `vault`. */
function rewrap(db: TestDatabase, vault: Vault, options: RewrapOptions = {}) {
  return rewrapAll({ sealed: createSealedValueRepository(db.sql), quarantine: createVaultQuarantineRepository(db.sql), rewrapper: vault }, options);
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
    const report = await rewrap(db, vaultBoth, { batchSize: 100 });
    assert.deepEqual(report, { moved: { provider_client_secret: 450, credential: 450, handshake_verifier: 450, session_signing_key: 0 }, quarantined: [], leftBehind: [] });
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
    // The tokens did not change, so neither did the version a refresh compares and sets.
    assert.equal((await db.sql`select count(*)::int as n from credentials where version = 1`)[0]!.n, 450);
  });

  it("rewrapAll() run again changes nothing", async () => {
    const before = await db.sql`select connection_id, secret_ct from credentials order by connection_id`;
    const report = await rewrap(db, vaultBoth, { batchSize: 100 });
    assert.deepEqual(report.moved, { provider_client_secret: 0, credential: 0, handshake_verifier: 0, session_signing_key: 0 });
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

const emptyExpected = (): Expected => ({ providers: new Map(), secrets: new Map(), refresh: new Map(), verifiers: new Map() });

/** Flips one byte of a ciphertext's body, keeping its text well formed: it decodes, then fails to authenticate. */
function corrupt(ciphertext: string): string {
  const [version, kid, nonce, body] = ciphertext.split(".") as [string, string, string, string];
  const bytes = Buffer.from(body, "base64url");
  bytes[0]! ^= 0xff;
  return [version, kid, nonce, bytes.toString("base64url")].join(".");
}

/** A clock that only sleep() moves, and a record of every sleep. */
function fakeTime() {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return { sleeps, now: () => t, sleep: async (ms: number) => void (sleeps.push(ms), (t += ms)) };
}

describe("rewrap with a corrupted row", () => {
  let db: TestDatabase;
  let bad: string;
  let original: string;
  before(async () => {
    db = await createTestDatabase();
    await seed(db, vaultOld, 20, emptyExpected());
    const [row] = await db.sql`select connection_id, secret_ct from credentials order by connection_id offset 7 limit 1`;
    bad = row!.connectionId;
    original = row!.secretCt;
    await db.sql`update credentials set secret_ct = ${corrupt(original)} where connection_id = ${bad}`;
  });
  after(() => db.close());

  it("rewrapAll() moves every other row, quarantines exactly that one and reports it", async () => {
    const seen: string[] = [];
    const report = await rewrap(db, vaultBoth, { batchSize: 5, onQuarantine: (r) => void seen.push(r.rowId) });
    assert.deepEqual(report.moved, { provider_client_secret: 20, credential: 19, handshake_verifier: 20, session_signing_key: 0 });
    assert.equal(report.quarantined.length, 1);
    const [q] = report.quarantined;
    assert.deepEqual({ ...q!, detail: undefined }, { kind: "credential", rowId: bad, keyId: "old", reason: "decrypt_failed", detail: undefined });
    assert.match(q!.detail, new RegExp(bad));
    assert.ok(!q!.detail.includes(original.split(".")[3]!), "the report shows ciphertext");
    assert.deepEqual(seen, [bad]);
    assert.deepEqual(report.leftBehind, []);
    const rows = await db.sql`select kind, row_id, key_id, reason from vault_quarantine`;
    assert.deepEqual(rows.map((r) => ({ ...r })), [{ kind: "credential", rowId: bad, keyId: "old", reason: "decrypt_failed" }]);
    assert.equal((await db.sql`select count(*)::int as n from credentials where key_id <> 'new'`)[0]!.n, 1);
  });

  it("rewrapAll() moves the row once it opens again, and forgets its quarantine", async () => {
    await db.sql`update credentials set secret_ct = ${original} where connection_id = ${bad}`;
    const report = await rewrap(db, vaultBoth);
    assert.deepEqual(report.moved, { provider_client_secret: 0, credential: 1, handshake_verifier: 0, session_signing_key: 0 });
    assert.deepEqual(report.quarantined, []);
    assert.equal((await db.sql`select count(*)::int as n from vault_quarantine`)[0]!.n, 0);
    assert.deepEqual(await createSealedValueRepository(db.sql).keyIdsInUse(), ["new"]);
  });
});

describe("rewrap while a refresh holds a lease", () => {
  let db: TestDatabase;
  let leased: string;
  before(async () => {
    db = await createTestDatabase();
    await seed(db, vaultOld, 10, emptyExpected());
    leased = (await db.sql`select connection_id from credentials order by connection_id limit 1`)[0]!.connectionId;
  });
  after(() => db.close());

  it("rewrapAll() skips a row with a live lease and picks it up once the lease is released", async () => {
    await db.sql`update credentials set lease_owner = 'broker-x', lease_until = now() + interval '1 hour' where connection_id = ${leased}`;
    const time = fakeTime();
    let passes = 0;
    const report = await rewrap(db, vaultBoth, {
      ...time,
      pollMs: 1000,
      sleep: async (ms) => {
        await time.sleep(ms);
        // The refresh ends during the third pause.
        if (++passes === 3) await db.sql`update credentials set lease_owner = null, lease_until = null where connection_id = ${leased}`;
      },
    });
    assert.deepEqual(time.sleeps, [1000, 1000, 1000]);
    assert.deepEqual(report.moved, { provider_client_secret: 10, credential: 10, handshake_verifier: 10, session_signing_key: 0 });
    assert.deepEqual(report.leftBehind, []);
    const [row] = await db.sql`select key_id, version from credentials where connection_id = ${leased}`;
    assert.deepEqual({ ...row }, { keyId: "new", version: 1n });
  });

  it("rewrapAll() gives up on a row leased for longer than the wait and reports it", async () => {
    await db.sql`update credentials set key_id = 'old', secret_ct = ${vaultOld.seal("{}", { ...sealedFields.credentialSecret, rowId: leased })},
      refresh_ct = null, lease_owner = 'broker-x', lease_until = now() + interval '1 hour' where connection_id = ${leased}`;
    const time = fakeTime();
    const report = await rewrap(db, vaultBoth, { ...time, leaseWaitMs: 5000, pollMs: 2000 });
    assert.deepEqual(time.sleeps, [2000, 2000, 1000]);
    assert.deepEqual(report.leftBehind, [{ kind: "credential", rowId: leased, keyId: "old", leased: true }]);
    assert.deepEqual(report.quarantined, []);
  });
});

const root = new URL("../../", import.meta.url).pathname;

/** Runs `make rewrap`'s entry as the Makefile does, with only `env`. */
function runRewrapEntry(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/runtime/node/rewrap.ts"], {
    cwd: root, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

describe("make rewrap", () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  let bad: string;
  const b64 = (key: Uint8Array) => Buffer.from(key).toString("base64");
  before(async () => {
    db = await createTestDatabase();
    await seed(db, vaultOld, 5, emptyExpected());
    bad = (await db.sql`select connection_id from credentials order by connection_id limit 1`)[0]!.connectionId;
    await db.sql`update credentials set secret_ct = ${corrupt((await db.sql`select secret_ct from credentials where connection_id = ${bad}`)[0]!.secretCt)}
      where connection_id = ${bad}`;
    env = {
      DATABASE_URL: db.url, ENCRYPTION_KEYS: `old:${b64(oldKey)},new:${b64(newKey)}`, ENCRYPTION_ACTIVE_KEY: "new",
      STATE_KEY: randomBytes(32).toString("base64"), API_KEY: `admin-${randomUUID()}`, BASE_URL: "http://127.0.0.1:1",
      ALLOWED_RETURN_DOMAINS: "app.example.com", REWRAP_WAIT_SECONDS: "0",
    };
  });
  after(() => db.close());

  it("refuses other key material under a known key id before touching any row", async () => {
    const [{ n: checks }] = await db.sql`select count(*)::int as n from vault_key_checks`;
    assert.equal(checks, 0);
    const other = b64(randomBytes(32));
    const run = await runRewrapEntry({ ...env, ENCRYPTION_KEYS: `old:${other},new:${b64(newKey)}` });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /key id "old"/);
    assert.ok(!run.stderr.includes(other) && !run.stdout.includes(other), "the output shows the key");
    assert.equal((await db.sql`select count(*)::int as n from credentials where key_id = 'old'`)[0]!.n, 5);
  });

  it("exits 1 and names the quarantined row and what to do when a row does not open", async () => {
    const run = await runRewrapEntry(env);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /rewrapped onto key "new": 5 provider client secrets, 4 credentials, 5 handshake verifiers/);
    assert.match(run.stdout, new RegExp(`credential ${bad} \\(key "old", decrypt_failed\\): revoke this connection`));
    assert.match(run.stderr, new RegExp(`quarantined credential ${bad}, continuing: .*authentication failed`));
  });

  it("exits 0 once the row is gone, and clears the quarantine", async () => {
    await db.sql`delete from credentials where connection_id = ${bad}`;
    const run = await runRewrapEntry(env);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /rewrapped onto key "new": 0 provider client secrets, 0 credentials, 0 handshake verifiers/);
    assert.match(run.stdout, /every stored secret is sealed under "new"/);
    assert.equal((await db.sql`select count(*)::int as n from vault_quarantine`)[0]!.n, 0);
  });
});
