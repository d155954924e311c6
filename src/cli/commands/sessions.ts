import { type Command, Option } from "commander";
import { ListSessionsResponseSchema } from "../../../gen/nexus/broker/v1/session_service_pb.ts";
import { RevokeSessionResponseSchema } from "../../../gen/nexus/common/v1/session_pb.ts";
import type { SessionInfo } from "../../../gen/nexus/common/v1/session_pb.ts";
import type { CliContext } from "../cli-context.ts";
import { exitCodes } from "../cli-io.ts";
import { positiveInt } from "../options.ts";
import { agentNames, callOptions, printJson } from "../output.ts";
import { type Cell, type Colour, renderTable } from "../table.ts";
import { argumentOf, jsonFlag, optionsOf, type Run, withExamples } from "./command-kit.ts";
import { inputLimits } from "../../shared/input-rules.ts";

const pageSize = inputLimits.pageSize;

/** A session's statuses (session.proto). */
export const sessionStatuses = ["active", "expired", "revoked"] as const;

const statusColour: Record<string, Colour> = { active: "green", expired: "dim", revoked: "dim" };

/** `nexus sessions list | revoke`. */
export function registerSessionCommands(program: Command, context: CliContext, run: Run): void {
  const sessions = program.command("sessions").description("Delegated sessions: list them, revoke one (and everything delegated from it)");
  withExamples(sessions, [
    ["nexus sessions list --status active", "the live sessions"],
    ["nexus sessions revoke 9a4e2c7d-1f0b-4c55-8a3e-6d2b7c9e0f13", "revoke one and its delegates"],
  ]);

  const list = sessions.command("list").description("List sessions, newest first, a page at a time (the next page's token goes to stderr)")
    .option("--agent <id>", "only sessions this agent holds or delegated")
    .option("--connection <id>", "only sessions of this connection")
    .addOption(new Option("--status <status>", "only sessions in this status").choices(sessionStatuses))
    .option("--limit <n>", `at most this many (1 to ${pageSize.max}; the Broker's default is ${pageSize.default})`, positiveInt(pageSize.max))
    .option("--page-token <token>", "the next page, as the previous page printed it")
    .option("--json", jsonFlag);
  withExamples(list, [
    ["nexus sessions list --connection 5d0c1a52-8c1e-4a53-9e37-0f6cfe1b2a44", "the sessions of one connection"],
    ["nexus sessions list --agent 0b6f1f0e-4a57-4a8e-9d62-2f6f1c1e7a10 --json", "one agent's, as JSON"],
  ]);
  list.action(run(async () => {
    const o = optionsOf<{ agent?: string; connection?: string; status?: string; limit?: number; pageToken?: string; json?: boolean }>(list);
    const answer = await context.broker().sessions.listSessions({
      agentId: o.agent ?? "", connectionId: o.connection ?? "", status: o.status ?? "", pageSize: o.limit ?? 0, pageToken: o.pageToken ?? "",
    }, callOptions(context));
    if (o.json) {
      printJson(context, ListSessionsResponseSchema, answer);
      return exitCodes.ok;
    }
    if (answer.sessions.length === 0) context.io.stderr("No sessions match.\n");
    else context.io.stdout(await sessionTable(context, answer.sessions));
    if (answer.nextPageToken !== "") context.io.stderr(`More sessions: add --page-token ${answer.nextPageToken}\n`);
    return exitCodes.ok;
  }));

  const revoke = sessions.command("revoke").argument("<id>", "the session's id")
    .description("Revoke a session and every session delegated from it, on every replica at once")
    .option("--json", "print the revoked session as JSON (the REST API's shape)");
  withExamples(revoke, [["nexus sessions revoke 9a4e2c7d-1f0b-4c55-8a3e-6d2b7c9e0f13", "revoke one session and its delegates"]]);
  revoke.action(run(async () => {
    const answer = await context.broker().sessions.revokeSession({ sessionId: argumentOf(revoke) }, callOptions(context));
    if (optionsOf<{ json?: boolean }>(revoke).json) {
      printJson(context, RevokeSessionResponseSchema, answer);
      return exitCodes.ok;
    }
    const others = answer.revokedCount - 1;
    context.io.stderr(`Revoked session ${argumentOf(revoke)}` +
      `${others > 0 ? ` and ${others} session${others === 1 ? "" : "s"} delegated from it` : ""}.\n`);
    return exitCodes.ok;
  }));
}

/** The sessions as a table, agents by name (the clearance, scopes and hosts, is in --json). */
async function sessionTable(context: CliContext, sessions: readonly SessionInfo[]): Promise<string> {
  const name = agentNames(context);
  const now = context.io.now();
  const rows: Cell[][] = await Promise.all(sessions.map(async (s) => [
    s.sessionId,
    await name(s.agentId),
    // An agent's own root session names it as its delegator too: only a hand-over is worth a column.
    s.delegatedByAgentId === "" || s.delegatedByAgentId === s.agentId ? "-" : await name(s.delegatedByAgentId),
    s.workspaceId,
    { text: s.status, colour: statusColour[s.status] },
    s.expiresAt === 0 ? "-" : relativeTime(s.expiresAt * 1000 - now),
  ]));
  return renderTable([
    { header: "ID" }, { header: "AGENT", shrink: true, min: 10 }, { header: "DELEGATED BY", shrink: true, min: 10 },
    { header: "WORKSPACE", shrink: true }, { header: "STATUS" }, { header: "EXPIRES" },
  ], rows, { paint: context.paint });
}

/** A time from now in words: "in 9 min", "2 h ago". */
export function relativeTime(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const amount = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172_800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} d`;
  return ms >= 0 ? `in ${amount}` : `${amount} ago`;
}
