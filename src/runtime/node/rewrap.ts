// Entry point: `make rewrap`. Checks the key material, re-seals every stored secret
// under ENCRYPTION_ACTIVE_KEY, prints a summary and exits: 0 when every row moved,
// 1 when a row was quarantined or left behind. Safe while Brokers serve, and to rerun.
import { loadBrokerConfig } from "../../broker/config.ts";
import { createSql } from "../../broker/db/sql.ts";
import { createSealedValueRepository } from "../../broker/repositories/sealed-value-repository.ts";
import { createVaultKeyCheckRepository } from "../../broker/repositories/vault-key-check-repository.ts";
import { createVaultQuarantineRepository } from "../../broker/repositories/vault-quarantine-repository.ts";
import { verifyKeyChecks } from "../../broker/services/key-check-service.ts";
import { assertKeysLoaded, rewrapAll } from "../../broker/services/key-rotation-service.ts";
import { createKeyRing } from "../../broker/vault/key-ring.ts";
import { createVault } from "../../broker/vault/vault.ts";
import { ConfigError, createConfigReader } from "../../shared/config-reader.ts";
import { formatRewrapReport } from "./rewrap-report.ts";

try {
  const config = loadBrokerConfig(process.env);
  const reader = createConfigReader(process.env);
  // Twice the lease, plus slack: every refresh holding a row when we start has ended by then.
  const waitSeconds = reader.integer("REWRAP_WAIT_SECONDS", { default: 2 * config.refreshLeaseSeconds + 10, min: 0, max: 86_400 });
  reader.finish();
  const vault = createVault(createKeyRing(config.encryptionKeys, config.activeKeyId));
  const sql = createSql(config.databaseUrl, { max: 2, applicationName: "nexus-rewrap" });
  try {
    const sealed = createSealedValueRepository(sql);
    // The same checks as a Broker's start, before any row is touched.
    await assertKeysLoaded(sealed, vault.keyIds);
    await verifyKeyChecks({ checks: createVaultKeyCheckRepository(sql), sealed, vault });
    const report = await rewrapAll({ sealed, quarantine: createVaultQuarantineRepository(sql), rewrapper: vault }, {
      leaseWaitMs: waitSeconds * 1000,
      onQuarantine: (row) => process.stderr.write(`quarantined ${row.kind} ${row.rowId}, continuing: ${row.detail}\n`),
    });
    process.stdout.write(formatRewrapReport(report, vault.activeKeyId, await sealed.keyIdsInUse()));
    process.exitCode = report.quarantined.length > 0 || report.leftBehind.length > 0 ? 1 : 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
} catch (error) {
  process.stderr.write(error instanceof ConfigError
    ? `cannot rewrap; fix the configuration:\n${error.problems.map((p) => `  - ${p}\n`).join("")}`
    : `rewrap failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
