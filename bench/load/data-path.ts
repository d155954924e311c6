/**
 * The data-path baseline: what GetToken costs below the RPC layers. Each op
 * runs the Broker's own uncached read through its own repository (the
 * connection, its provider and its credential, in one statement) and opens
 * the sealed credential with the vault, as credentialPayload does. Using the
 * code under src/ keeps this baseline honest when that code changes.
 *
 *   node --import tsx bench/load/data-path.ts < config.json
 */
import { createSql } from "../../src/broker/db/sql.ts";
import { createConnectionRepository } from "../../src/broker/repositories/connection-repository.ts";
import { credentialPayload } from "../../src/broker/services/credential-payload.ts";
import { createKeyRing } from "../../src/broker/vault/key-ring.ts";
import { createVault } from "../../src/broker/vault/vault.ts";
import { readConfig, type Recorder, sleep, warmUpThenMeasure } from "./worker-io.ts";

/** The worker's stdin. */
export interface DataPathConfig {
  databaseUrl: string;
  /** Base64 of the Broker's ENCRYPTION_KEY (key id "primary", as the Broker names a single key). */
  encryptionKey: string;
  ids: string[];
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
}

const config = await readConfig<DataPathConfig>();
// The Broker's pool size, so both see PostgreSQL through the same number of backends.
const sql = createSql(config.databaseUrl, { applicationName: "nexus-bench-data-path" });
const connections = createConnectionRepository(sql);
const vault = createVault(createKeyRing(new Map([["primary", Buffer.from(config.encryptionKey, "base64")]]), "primary"));
let next = 0;

/** One GetToken's worth of storage work, failing loudly if the rows are not there. */
async function op(id: string): Promise<void> {
  const read = await connections.readForToken!(id);
  if (read?.credential === undefined) throw new Error(`no connection or credential for ${id}`);
  credentialPayload(read.provider, read.credential, vault);
}

async function drive(seconds: number, recorder: Recorder | undefined): Promise<void> {
  const end = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await op(config.ids[next++ % config.ids.length]!);
        recorder?.ok(performance.now() - t0);
      } catch (error) {
        recorder?.error(error instanceof Error ? error.message : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, loop));
}

await warmUpThenMeasure(drive, config.warmupSeconds, config.seconds);
// Let the orchestrator read PostgreSQL's CPU counters first: a backend that has exited
// but is not yet reaped shows no CPU at all, which would make the delta negative.
await sleep(500);
await sql.end({ timeout: 5 });
