// Entry point: `make rewrap`. Re-seals every stored secret under
// ENCRYPTION_ACTIVE_KEY, then exits; safe to run while Brokers serve, and to rerun.
import { loadBrokerConfig } from "../../broker/config.ts";
import { createSql } from "../../broker/db/sql.ts";
import { createSealedValueRepository } from "../../broker/repositories/sealed-value-repository.ts";
import { rewrapAll } from "../../broker/services/key-rotation-service.ts";
import { createKeyRing } from "../../broker/vault/key-ring.ts";
import { createVault } from "../../broker/vault/vault.ts";
import { ConfigError } from "../../shared/config-reader.ts";

try {
  const config = loadBrokerConfig(process.env);
  const vault = createVault(createKeyRing(config.encryptionKeys, config.activeKeyId));
  const sql = createSql(config.databaseUrl, { max: 2, applicationName: "nexus-rewrap" });
  try {
    const store = createSealedValueRepository(sql);
    const moved = await rewrapAll(store, vault);
    process.stdout.write(`rewrapped onto key "${vault.activeKeyId}": ${JSON.stringify(moved)}\n`);
    process.stdout.write(`keys still in use: ${(await store.keyIdsInUse()).join(", ") || "none"}\n`);
  } finally {
    await sql.end({ timeout: 5 });
  }
} catch (error) {
  process.stderr.write(error instanceof ConfigError
    ? `cannot rewrap; fix the configuration:\n${error.problems.map((p) => `  - ${p}\n`).join("")}`
    : `rewrap failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
