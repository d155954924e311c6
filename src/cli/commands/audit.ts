import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Command } from "commander";
import {
  type AuditEvent,
  AuditEventSchema,
  type ListAuditEventsRequestSchema,
  ListAuditEventsResponseSchema,
} from "../../../gen/nexus/broker/v1/audit_service_pb.ts";
import type { CliContext } from "../cli-context.ts";
import { exitCodes } from "../cli-io.ts";
import { networkFailure } from "../network-error.ts";
import { parseSince, positiveInt } from "../options.ts";
import { agentNames, callOptions, printJson, printJsonLine } from "../output.ts";
import { type Cell, type Column, formatHeader, formatRow, formatSecond, layoutTable } from "../table.ts";
import { describe } from "../run-cli.ts";
import { jsonFlag, optionsOf, type Run, withExamples } from "./command-kit.ts";

/** How often `--follow` asks for new events. */
const pollIntervalMs = 1000;
/** Events per page while following; more new events than this in one poll are read page by page. */
const pollPage = 200;
/** Pages read per poll at most: a burst beyond 2000 events a second is read over the next polls. */
const pollPages = 10;

const columns: readonly Column[] = [
  { header: "TIME (UTC)" }, { header: "EVENT" }, { header: "RESULT", shrink: true, min: 7 },
  { header: "PROVIDER", shrink: true, min: 10 }, { header: "AGENT", shrink: true, min: 10 }, { header: "CONNECTION" },
];

/** The filters of one `nexus audit`, as the request takes them. */
type Filters = MessageInitShape<typeof ListAuditEventsRequestSchema>;

/** Column widths a followed log keeps room for: connection.attention_required, a reason, names, a short id (fits 100). */
const streamRoom: Cell[] = ["", "x".repeat(29), "x".repeat(8), "x".repeat(12), "x".repeat(14), "x".repeat(8)];

interface AuditOptions {
  connection?: string;
  agent?: string;
  type?: string;
  since?: Date;
  limit?: number;
  follow?: boolean;
  json?: boolean;
}

/** `nexus audit [--follow]`. */
export function registerAuditCommand(program: Command, context: CliContext, run: Run): void {
  const audit = program.command("audit").description("Show the audit log, oldest to newest; --follow keeps printing new events until Ctrl-C")
    .option("--connection <id>", "only events of this connection")
    .option("--agent <id>", "only events of calls by this registered agent")
    .option("--type <event_type>", "only events of this type, such as agent.created or token.refresh_failed")
    .option("--since <time>", "only events at or after this time: RFC 3339 (2026-06-01T12:00:00Z), a date, or an age (30s, 15m, 2h, 7d)",
      (value: string) => parseSince(value, context.io.now()))
    .option("--limit <n>", "how many of the newest events to show (1 to 1000; the Broker's default is 50)", positiveInt(1000))
    .option("-f, --follow", "then poll every second for new events, until interrupted (Ctrl-C)")
    .option("--json", `${jsonFlag}; with --follow, one JSON object per event and line`);
  withExamples(audit, [
    ["nexus audit --since 1h", "the last hour"],
    ["nexus audit --type token.refresh_failed --limit 20", "the 20 newest refresh failures"],
    ["nexus audit --connection 5d0c1a52-8c1e-4a53-9e37-0f6cfe1b2a44 --follow", "watch one connection"],
    ["nexus audit --follow --json | jq -c 'select(.outcome == \"failure\")'", "stream failures as JSON lines"],
  ]);
  audit.action(run(async () => {
    const o = optionsOf<AuditOptions>(audit);
    const filters: Filters = {
      connectionId: o.connection ?? "", agentId: o.agent ?? "", eventType: o.type ?? "",
      ...(o.since === undefined ? {} : { since: timestampFromDate(o.since) }),
    };
    const first = await context.broker().audit.listAuditEvents({ ...filters, limit: o.limit ?? 0 }, callOptions(context));
    if (o.follow !== true) {
      if (o.json === true) {
        printJson(context, ListAuditEventsResponseSchema, first);
      } else if (first.events.length === 0) {
        context.io.stderr("No audit events match.\n");
      } else {
        const events = oldestFirst(first.events);
        await createPrinter(context, events, false, false).print(events);
        if (first.nextCursor !== "") context.io.stderr("Older events exist: raise --limit or set --since.\n");
      }
      return exitCodes.ok;
    }
    return follow(context, filters, first.events, o.json === true);
  }));
}

/** Prints events as rows under one header (widths fixed by the first events) or as JSON lines. */
function createPrinter(context: CliContext, sample: readonly AuditEvent[], json: boolean, follows: boolean): { print(events: readonly AuditEvent[]): Promise<void> } {
  const name = agentNames(context);
  let widths: number[] | undefined;
  const row = async (e: AuditEvent): Promise<Cell[]> => {
    const subject = typeof e.details?.agent_name === "string" ? e.details.agent_name : "";
    return [
      formatSecond(e.time),
      e.eventType,
      e.outcome === "success" ? { text: "ok", colour: "green" } : { text: e.reason === "" ? e.outcome : e.reason, colour: "red" },
      e.providerName === "" ? "-" : e.providerName,
      e.agentId !== "" ? await name(e.agentId) : subject === "" ? "-" : subject,
      // The first block of the UUID, as git shows a short hash: enough to tell connections apart; --json has the id.
      e.connectionId === "" ? "-" : e.connectionId.slice(0, 8),
    ];
  };
  return {
    async print(events) {
      if (json) {
        for (const e of events) printJsonLine(context, AuditEventSchema, e);
        return;
      }
      const rows = await Promise.all(events.map(row));
      if (widths === undefined) {
        // A stream cannot re-align what it printed: the first rows set the widths for good, with room for the
        // longest event types and usual names when it follows.
        widths = layoutTable(columns, [...(follows ? [streamRoom] : []), ...(await Promise.all(sample.map(row))), ...rows]);
        context.io.stdout(`${formatHeader(columns, widths, context.paint)}\n`);
      }
      for (const r of rows) context.io.stdout(`${formatRow(widths, r, context.paint)}\n`);
    },
  };
}

/**
 * `--follow`: prints the newest page, then every second the events that are
 * newer, until io.interrupted aborts. An event is new when it is newer than
 * the newest one the first page showed and has not been printed yet (by id,
 * so an event written late, under a smaller id than one already shown, is
 * still printed once). A Broker that stops answering is waited for.
 */
async function follow(context: CliContext, filters: Filters, newest: readonly AuditEvent[], json: boolean): Promise<number> {
  const { io } = context;
  const chronological = oldestFirst(newest);
  const printer = createPrinter(context, chronological, json, true);
  const seen = new Set(newest.map((e) => e.id));
  const baseline = newest.reduce((max, e) => (BigInt(e.id) > max ? BigInt(e.id) : max), 0n);
  if (chronological.length > 0) await printer.print(chronological);
  else if (!json) io.stderr("No audit events match yet; waiting for new ones (Ctrl-C to stop).\n");
  let outage = false;
  while (!io.interrupted.aborted) {
    await io.sleep(pollIntervalMs, io.interrupted);
    if (io.interrupted.aborted) break;
    let fresh: AuditEvent[];
    try {
      fresh = await newerEvents(context, filters, (e) => !seen.has(e.id) && BigInt(e.id) > baseline, seen);
    } catch (error) {
      if (io.interrupted.aborted) break;
      if (!transient(error)) throw error;
      if (!outage) io.stderr(`The Broker did not answer (${networkFailure(error) ?? describe(error)}); trying again every second.\n`);
      outage = true;
      continue;
    }
    if (outage) io.stderr("The Broker answers again.\n");
    outage = false;
    for (const e of fresh) seen.add(e.id);
    if (fresh.length > 0) await printer.print(oldestFirst(fresh));
    forgetOldest(seen);
  }
  return exitCodes.ok;
}

/**
 * Events by the time they happened, then by id. Ids follow the order events
 * were written, and the Broker queues some events for a moment (agent
 * changes) while it writes others at once (connections), so ids alone would
 * show a connection's start after its credential's capture.
 */
function oldestFirst(events: readonly AuditEvent[]): AuditEvent[] {
  const ms = (e: AuditEvent) => (e.time === undefined ? 0 : Number(e.time.seconds) * 1000 + e.time.nanos / 1e6);
  return [...events].sort((a, b) => ms(a) - ms(b) || (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0));
}

/** The unseen events among the newest, page by page until a page reaches events seen before. */
async function newerEvents(
  context: CliContext, filters: Filters, isNew: (e: AuditEvent) => boolean, seen: ReadonlySet<string>,
): Promise<AuditEvent[]> {
  const fresh: AuditEvent[] = [];
  let cursor = "";
  for (let page = 0; page < pollPages; page++) {
    const answer = await context.broker().audit.listAuditEvents({ ...filters, limit: pollPage, cursor }, callOptions(context));
    fresh.push(...answer.events.filter(isNew));
    const reachedSeen = answer.events.some((e) => seen.has(e.id) || !isNew(e));
    if (reachedSeen || answer.nextCursor === "") break;
    cursor = answer.nextCursor;
  }
  return fresh;
}

/** Keeps the set of printed ids bounded on a long follow: ids far below the newest never come back. */
function forgetOldest(seen: Set<string>): void {
  if (seen.size <= 20_000) return;
  const ids = [...seen].map((id) => BigInt(id)).sort((a, b) => (a < b ? -1 : 1));
  for (const id of ids.slice(0, ids.length - 10_000)) seen.delete(id.toString());
}

/** A failure worth waiting out while following: the Broker restarting or out of reach. */
function transient(error: unknown): boolean {
  return networkFailure(error) !== undefined || ConnectError.from(error).code === Code.Unavailable;
}
