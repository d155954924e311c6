/**
 * .nexus/dev.env as `make run` keeps it: created once with mode 600, the
 * development agent's lines kept out of the services' environment, and the
 * unscoped AGENT_API_KEYS key of older versions removed.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadDevelopmentKeys, saveDevelopmentAgent } from "../../src/runtime/node/dev-keys.ts";

describe("loadDevelopmentKeys() and saveDevelopmentAgent()", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "nexus-dev-keys-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("creates the file once, mode 600, with the service keys and no agent key", async () => {
    const file = join(dir, "new", "dev.env");
    const keys = await loadDevelopmentKeys(file);
    assert.deepEqual(Object.keys(keys.serviceEnv).sort(), ["API_KEY", "ENCRYPTION_KEY", "STATE_KEY"]);
    assert.equal(keys.agent, undefined);
    assert.equal(keys.removedUnscopedKey, false);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual((await loadDevelopmentKeys(file)).serviceEnv, keys.serviceEnv, "the same keys on the next run");
  });

  it("remembers the development agent apart from the services' environment, and replaces it", async () => {
    const file = join(dir, "agent.env");
    await loadDevelopmentKeys(file);
    await saveDevelopmentAgent(file, { id: "a1", key: "nxa_first" });
    await saveDevelopmentAgent(file, { id: "a2", key: "nxa_second" });
    const keys = await loadDevelopmentKeys(file);
    assert.deepEqual(keys.agent, { id: "a2", key: "nxa_second" });
    assert.ok(!Object.keys(keys.serviceEnv).some((k) => k.startsWith("NEXUS_DEV_AGENT")));
    const text = await readFile(file, "utf8");
    assert.equal(text.match(/NEXUS_DEV_AGENT_KEY=/g)?.length, 1);
    assert.ok(!text.includes("nxa_first"));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  it("removes the unscoped AGENT_API_KEYS key an older make run wrote, and keeps everything else", async () => {
    const file = join(dir, "legacy.env");
    await writeFile(file, "# old\nENCRYPTION_KEY=k1\nSTATE_KEY=k2\nAPI_KEY=nxadmin_x\nAGENT_API_KEYS=nxagent_abcdefghijklmnop\n", { mode: 0o644 });
    const keys = await loadDevelopmentKeys(file);
    assert.equal(keys.removedUnscopedKey, true);
    assert.deepEqual(keys.serviceEnv, { ENCRYPTION_KEY: "k1", STATE_KEY: "k2", API_KEY: "nxadmin_x" });
    assert.equal(await readFile(file, "utf8"), "# old\nENCRYPTION_KEY=k1\nSTATE_KEY=k2\nAPI_KEY=nxadmin_x\n");
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await loadDevelopmentKeys(file)).removedUnscopedKey, false);
  });
});
