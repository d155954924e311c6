/**
 * Refresh storm: N connections all due at once, refreshed by one Broker and
 * then by two, against a loopback token endpoint that rotates refresh tokens
 * and counts any token presented twice. Reports refreshes per second, time to
 * drain, duplicates and peak memory.
 *
 *   npx tsx bench/refresh-storm.ts [--connections 10000] [--concurrency 64] [--built] [--profile]
 *
 * --profile runs the Brokers under `node --cpu-prof` and prints the hottest
 * functions of the first one (self time), to show where a refresh's CPU goes.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createSql } from "../src/broker/db/sql.ts";
import { sealedFields } from "../src/broker/domain/sealed-fields.ts";
import { createKeyRing } from "../src/broker/vault/key-ring.ts";
import { createVault } from "../src/broker/vault/vault.ts";
import { freePort } from "../test/support/free-port.ts";
import { type Child, machine, root, spawnNode, startBenchPostgres, until } from "./lib.ts";
import { selfTimes } from "./load/profile.ts";

const { values } = parseArgs({
  options: { connections: { type: "string", default: "10000" }, concurrency: { type: "string", default: "64" }, built: { type: "boolean", default: false },
    profile: { type: "boolean", default: false } },
});
// --built runs the Broker from `make build`'s bundle on plain Node, as production would.
const brokerEntry = values.built ? ".nexus/build/node/broker.mjs" : "src/runtime/node/broker.ts";
const total = Number(values.connections);
const concurrency = Number(values.concurrency);
const encryptionKey = randomBytes(32);

interface Result { brokers: number; connections: number; drainSeconds: number; perSecond: number; duplicates: number; unknown: number; requests: number; peakRssMb: number[]; cpuSeconds: number[] }

async function run(pg: Awaited<ReturnType<typeof startBenchPostgres>>, brokers: number): Promise<Result> {
  const dbUrl = await pg.createDatabase(`refresh_${brokers}_${Date.now()}`);
  const sql = createSql(dbUrl, { max: 4 });
  const tokenPort = await freePort();
  const tokens = await spawnNode("bench/token-server.ts", [String(tokenPort)], {}, (l) => l.includes('"port"'));
  const vault = createVault(createKeyRing(new Map([["primary", encryptionKey]]), "primary"));
  const providerId = randomUUID();
  await sql`insert into providers (id, name, auth_type, client_id, client_secret_ct, key_id, auth_url, token_url, params)
    values (${providerId}, 'storm', 'oauth2', 'bench', ${vault.seal("bench-secret", { ...sealedFields.providerClientSecret, rowId: providerId })}, 'primary',
            'http://127.0.0.1:1/authorize', ${`http://127.0.0.1:${tokenPort}/token`}, '{"token_endpoint_auth_method":"client_secret_post"}')`;
  const refreshTokens: string[] = [];
  for (let start = 0; start < total; start += 1000) {
    const conns = [];
    const creds = [];
    for (let i = start; i < Math.min(total, start + 1000); i++) {
      const id = randomUUID();
      const rt = randomBytes(18).toString("base64url");
      refreshTokens.push(rt);
      conns.push({ id, workspace_id: `ws-${i}`, provider_id: providerId, status: "active", return_url: "https://app.example.com/" });
      creds.push({
        connection_id: id, key_id: "primary",
        secret_ct: vault.seal(JSON.stringify({ access_token: `at-${i}`, token_type: "Bearer" }), { ...sealedFields.credentialSecret, rowId: id }),
        refresh_ct: vault.seal(rt, { ...sealedFields.credentialRefreshToken, rowId: id }),
      });
    }
    await sql`insert into connections ${sql(conns)}`;
    // Not due yet: the storm starts when every Broker is up.
    await sql`insert into credentials ${sql(creds)}`;
    await sql`update credentials set expires_at = now() + interval '1 hour', refresh_due_at = now() + interval '1 day' where refresh_due_at is null`;
  }
  await fetch(`http://127.0.0.1:${tokenPort}/seed`, { method: "POST", body: JSON.stringify(refreshTokens) });
  const env = {
    DATABASE_URL: dbUrl, ENCRYPTION_KEY: encryptionKey.toString("base64"), STATE_KEY: randomBytes(32).toString("base64"),
    API_KEY: `bench-${randomBytes(12).toString("hex")}`, BASE_URL: "http://127.0.0.1:1", ALLOWED_RETURN_DOMAINS: "localhost",
    ALLOW_HTTP_LOOPBACK_PROVIDERS: "true", REFRESH_MIN_INTERVAL_SECONDS: "1", REFRESH_CONCURRENCY: String(concurrency), LOG_LEVEL: "warn",
  };
  const started: Child[] = [];
  for (let b = 0; b < brokers; b++) {
    const port = await freePort();
    const nodeArgs = values.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}/broker-${brokers}-${b}`] : [];
    started.push(await spawnNode(brokerEntry, [], { ...env, BROKER_PORT: String(port) }, { healthz: port }, nodeArgs));
  }
  process.stderr.write(`${brokers} Broker(s) up with ${total} connections seeded; starting the storm\n`);
  await new Promise((r) => setTimeout(r, 500));
  const t0 = performance.now();
  await sql`update credentials set refresh_due_at = now()`;
  await until(async () => {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from credentials where version > 1`;
    return row!.n >= total ? true : undefined;
  }, 600_000, 100);
  const drainSeconds = (performance.now() - t0) / 1000;
  const stats = (await (await fetch(`http://127.0.0.1:${tokenPort}/stats`)).json()) as { refreshes: number; duplicates: number; unknown: number };
  const result = {
    brokers, connections: total, drainSeconds, perSecond: total / drainSeconds, duplicates: stats.duplicates, unknown: stats.unknown,
    requests: stats.refreshes, peakRssMb: started.map((c) => Math.round(c.peakRssMb())), cpuSeconds: started.map((c) => Number(c.cpuSeconds().toFixed(1))),
  };
  for (const c of started) await c.stop();
  await tokens.stop();
  await sql.end({ timeout: 5 });
  return result;
}

const profileDir = `${root}bench/results/profiles/refresh`;
if (values.profile) rmSync(profileDir, { recursive: true, force: true });

/** The hottest functions of the first Broker of each run (its profile is written when it stops). */
function profileReport(brokers: number): string {
  const dir = `${profileDir}/broker-${brokers}-0`;
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (file === undefined) return `no profile in ${dir}\n`;
  const top = selfTimes(JSON.parse(readFileSync(join(dir, file), "utf8"))).slice(0, 20);
  return `\nTop self time, Broker 1 of ${brokers} (node --cpu-prof, refresh storm):\n\n| Self | Function |\n|---|---|\n${top.map(([f, share]) => `| ${(share * 100).toFixed(1)}% | \`${f}\` |`).join("\n")}\n`;
}

const pg = await startBenchPostgres();
const results: Result[] = [];
try {
  for (const brokers of (process.env.BENCH_BROKERS ?? "1,2").split(",").map(Number)) {
    const r = await run(pg, brokers);
    results.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
} finally {
  await pg.stop();
}
mkdirSync(`${root}bench/results`, { recursive: true });
writeFileSync(`${root}bench/results/refresh-storm.json`, JSON.stringify({ machine: machine(), concurrency, results }, null, 2));
process.stdout.write(`\nRefresh storm, ${total} connections due at once, REFRESH_CONCURRENCY=${concurrency}; ${machine()}\n\n`);
process.stdout.write("| Brokers | refreshes/s | time to drain | duplicate refreshes | token requests | peak RSS per Broker | CPU s per Broker |\n|---|---|---|---|---|---|---|\n");
for (const r of results) {
  process.stdout.write(`| ${r.brokers} | ${Math.round(r.perSecond)} | ${r.drainSeconds.toFixed(1)} s | ${r.duplicates} | ${r.requests} | ${r.peakRssMb.map((m) => `${m} MB`).join(", ")} | ${r.cpuSeconds.join(", ")} |\n`);
}
if (values.profile) for (const r of results) process.stdout.write(profileReport(r.brokers));
