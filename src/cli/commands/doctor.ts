import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Command } from "commander";
import { HealthCheckResponse_ServingStatus } from "../../../gen/grpc/health/v1/health_pb.ts";
import type { GetStatusResponse } from "../../../gen/nexus/broker/v1/status_service_pb.ts";
import type { CliContext } from "../cli-context.ts";
import { exitCodes } from "../cli-io.ts";
import { networkFailure } from "../network-error.ts";
import { callOptions } from "../output.ts";
import { tableWidth } from "../table.ts";
import { describe } from "../run-cli.ts";
import { jsonFlag, optionsOf, type Run, withExamples } from "./command-kit.ts";

/** One check's outcome: what was found and, unless it is OK, how to fix it. */
export interface Check {
  readonly name: string;
  readonly status: "ok" | "warn" | "fail";
  readonly message: string;
  readonly fix?: string;
}

/** Clock skew past which doctor warns, and past which it fails (assertions and sessions allow about this much). */
export const skewWarnMs = 30_000;
export const skewFailMs = 300_000;

/** How long each of doctor's calls may take. */
const timeoutMs = 10_000;

const labels = { ok: "OK", warn: "WARN", fail: "FAIL" } as const;
const colours = { ok: "green", warn: "yellow", fail: "red" } as const;

/** `nexus doctor`. */
export function registerDoctorCommand(program: Command, context: CliContext, run: Run): void {
  const doctor = program.command("doctor")
    .description("Check the Broker: reachable, the admin key accepted, its clock, database, migrations and key ring; says how to fix each problem. Exits 1 when a check fails")
    .option("--json", jsonFlag.replace("the Broker's answer", "the checks").replace(" (the REST API's shape)", ""));
  withExamples(doctor, [["nexus doctor", "check the Broker NEXUS_BROKER_URL names"], ["nexus doctor --json | jq '.checks[] | select(.status != \"ok\")'", "only the problems"]]);
  doctor.action(run(async () => {
    const checks = await runChecks(context);
    const failed = checks.filter((c) => c.status === "fail").length;
    const warned = checks.filter((c) => c.status === "warn").length;
    if (optionsOf<{ json?: boolean }>(doctor).json) {
      context.io.stdout(`${JSON.stringify({ ok: failed === 0, checks }, null, 2)}\n`);
    } else {
      for (const c of checks) {
        const [first = "", ...rest] = wrap(c.message, tableWidth - 18);
        context.io.stdout(`${context.paint(colours[c.status], labels[c.status].padEnd(4))}  ${c.name.padEnd(10)}  ${first}\n`);
        for (const line of rest) context.io.stdout(`${" ".repeat(18)}${line}\n`);
        if (c.fix !== undefined) {
          const [fixFirst = "", ...fixRest] = wrap(c.fix, tableWidth - 23);
          context.io.stdout(`${" ".repeat(18)}${context.paint("dim", "fix:")} ${fixFirst}\n`);
          for (const line of fixRest) context.io.stdout(`${" ".repeat(23)}${line}\n`);
        }
      }
      const summary = failed > 0 ? `${failed} check${failed === 1 ? "" : "s"} failed` : warned > 0 ? `no check failed; ${warned} warning${warned === 1 ? "" : "s"}` : "all checks passed";
      context.io.stdout(`\n${summary}.\n`);
    }
    return failed > 0 ? exitCodes.error : exitCodes.ok;
  }));
}

/**
 * Runs the checks in order; a check the later ones depend on (the Broker
 * reachable, the key accepted, the database) ends the list when it fails.
 */
export async function runChecks(context: CliContext): Promise<Check[]> {
  const broker = context.broker();
  const checks: Check[] = [];
  try {
    const health = await broker.health.check({ service: "" }, callOptions(context, timeoutMs));
    checks.push(health.status === HealthCheckResponse_ServingStatus.SERVING
      ? { name: "reachable", status: "ok", message: `${broker.url} answers and is serving` }
      : {
        name: "reachable", status: "fail", message: `${broker.url} answers but is not serving (its database is out of reach, or it is shutting down)`,
        fix: "check the Broker's log, its DATABASE_URL, and that PostgreSQL is up",
      });
  } catch (error) {
    checks.push({
      name: "reachable", status: "fail", message: `cannot reach ${broker.url}: ${networkFailure(error) ?? describe(error)}`,
      fix: "check NEXUS_BROKER_URL (the Broker's URL, port 8080 by default) and that the Broker is running and reachable from here",
    });
    return checks;
  }

  const sent = context.io.now();
  let status: GetStatusResponse;
  try {
    status = await broker.status.getStatus({}, callOptions(context, timeoutMs));
  } catch (error) {
    checks.push(statusRefused(error));
    return checks;
  }
  const received = context.io.now();
  checks.push({ name: "admin key", status: "ok", message: "accepted" });
  if (status.serverTime !== undefined) checks.push(clockCheck(timestampDate(status.serverTime).getTime() - (sent + received) / 2));
  if (!status.databaseReachable) {
    checks.push({
      name: "database", status: "fail", message: "the Broker cannot reach its database (migrations and keys not checked)",
      fix: "check the Broker's DATABASE_URL and that PostgreSQL is up",
    });
    return checks;
  }
  checks.push(migrationsCheck(status), keyRingCheck(status));
  return checks;
}

/** Why GetStatus failed, as a check: the key refused, a URL that is not a Broker's, or anything else. */
function statusRefused(error: unknown): Check {
  const e = ConnectError.from(error);
  if (e.code === Code.Unauthenticated || e.code === Code.PermissionDenied) {
    return {
      name: "admin key", status: "fail", message: "the Broker refused the admin key",
      fix: "set NEXUS_ADMIN_KEY (or --admin-key) to one of the Broker's API_KEY values",
    };
  }
  if (e.code === Code.Unimplemented || e.code === Code.NotFound) {
    return {
      name: "admin key", status: "fail", message: "this server has no Broker admin API (StatusService): it is not a Nexus Broker",
      fix: "NEXUS_BROKER_URL must name the Broker (port 8080 by default), not the Gateway",
    };
  }
  return { name: "admin key", status: "fail", message: `the status call failed: ${describe(error)}`, fix: "check the Broker's log" };
}

/** The Broker's clock against this machine's: `skewMs` is the Broker's minus ours, at the middle of the call. */
export function clockCheck(skewMs: number): Check {
  const abs = Math.abs(skewMs);
  const message = abs < 1000 ? "within a second of this machine's" : `${formatDuration(abs)} ${skewMs > 0 ? "ahead of" : "behind"} this machine's`;
  const fix = "one of the two clocks is wrong: sync both with NTP (the Broker checks assertion, session and token expiries with its clock)";
  if (abs > skewFailMs) return { name: "clock", status: "fail", message: `the Broker's clock is ${message}`, fix };
  if (abs > skewWarnMs) return { name: "clock", status: "warn", message: `the Broker's clock is ${message}`, fix };
  return { name: "clock", status: "ok", message: `the Broker's clock is ${message}` };
}

/** Migrations the Broker knows against those the database applied. */
export function migrationsCheck(s: Pick<GetStatusResponse, "migrationsKnown" | "migrationsApplied">): Check {
  const applied = new Set(s.migrationsApplied);
  const known = new Set(s.migrationsKnown);
  const pending = s.migrationsKnown.filter((m) => !applied.has(m));
  const unknown = s.migrationsApplied.filter((m) => !known.has(m));
  if (pending.length > 0) {
    return {
      name: "migrations", status: "fail", message: `${pending.length} of ${known.size} not applied: ${list(pending)}`,
      fix: "run `make migrate` with the Broker's DATABASE_URL (a Broker also migrates when it starts)",
    };
  }
  if (unknown.length > 0) {
    return {
      name: "migrations", status: "warn", message: `the database has ${unknown.length} this Broker does not know: ${list(unknown)}`,
      fix: "a newer Broker migrated this database: upgrade this one",
    };
  }
  return { name: "migrations", status: "ok", message: `all ${known.size} applied${s.migrationsKnown.length > 0 ? ` (latest ${s.migrationsKnown.at(-1)})` : ""}` };
}

/** Every key id in use is loaded, and no row is quarantined. */
export function keyRingCheck(s: Pick<GetStatusResponse, "activeKeyId" | "loadedKeyIds" | "keyIdsInUse" | "quarantinedRows">): Check {
  const loaded = new Set(s.loadedKeyIds);
  const missing = s.keyIdsInUse.filter((k) => !loaded.has(k));
  if (missing.length > 0) {
    return {
      name: "key ring", status: "fail", message: `secrets are sealed with key id ${list(missing)}, which this Broker did not load`,
      fix: "add the key to ENCRYPTION_KEYS (id:base64) and restart; see docs/configuration.md, Rotating the encryption key",
    };
  }
  if (s.quarantinedRows > 0) {
    return {
      name: "key ring", status: "fail", message: `${s.quarantinedRows} stored secret${s.quarantinedRows === 1 ? "" : "s"} could not be opened (quarantined by make rewrap)`,
      fix: "deal with each row `make rewrap` lists (revoke the connection, or enter the secret again); see docs/security.md",
    };
  }
  const old = s.keyIdsInUse.filter((k) => k !== s.activeKeyId);
  return {
    name: "key ring", status: "ok",
    message: `active key ${s.activeKeyId}; every key in use is loaded; nothing quarantined${old.length > 0 ? ` (${list(old)} still in use: make rewrap moves it)` : ""}`,
  };
}

/** `text` in lines of at most `width` columns, broken at spaces (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

function list(items: readonly string[]): string {
  return items.length <= 3 ? items.join(", ") : `${items.slice(0, 3).join(", ")} and ${items.length - 3} more`;
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}
