import { type Command, Option } from "commander";
import {
  type Connection,
  ListConnectionsResponseSchema,
  RevokeConnectionResponseSchema,
} from "../../../gen/nexus/broker/v1/connection_service_pb.ts";
import type { CliContext } from "../cli-context.ts";
import { exitCodes } from "../cli-io.ts";
import { positiveInt } from "../options.ts";
import { agentNames, callOptions, printJson } from "../output.ts";
import { type Cell, type Colour, formatMinute, renderTable } from "../table.ts";
import { argumentOf, jsonFlag, optionsOf, type Run, withExamples } from "./command-kit.ts";
import { inputLimits } from "../../shared/input-rules.ts";

const pageSize = inputLimits.pageSize;

/** A connection's statuses (connection_service.proto). */
export const connectionStatuses = ["pending", "active", "failed", "attention_required", "revoked"] as const;

const statusColour: Record<string, Colour> = { active: "green", pending: "yellow", attention_required: "yellow", failed: "red", revoked: "dim" };

/** `nexus connections list | revoke`. */
export function registerConnectionCommands(program: Command, context: CliContext, run: Run): void {
  const connections = program.command("connections").description("Connections: list them (with filters and paging), revoke one");
  withExamples(connections, [
    ["nexus connections list --workspace alice", "alice's connections"],
    ["nexus connections revoke 5d0c1a52-8c1e-4a53-9e37-0f6cfe1b2a44", "revoke one"],
  ]);

  const list = connections.command("list").description("List connections, newest first, a page at a time (the next page's token goes to stderr)")
    .option("--workspace <id>", "only this workspace's (the Gateway's user_id)")
    .addOption(new Option("--status <status>", "only connections in this status").choices(connectionStatuses))
    .option("--provider <name>", "only connections to this provider (name or alias)")
    .option("--limit <n>", `at most this many (1 to ${pageSize.max}; the Broker's default is ${pageSize.default})`, positiveInt(pageSize.max))
    .option("--page-token <token>", "the next page, as the previous page printed it")
    .option("--json", jsonFlag);
  withExamples(list, [
    ["nexus connections list --status attention_required", "what needs a user's attention"],
    ["nexus connections list --provider github --limit 20", "the newest 20 GitHub connections"],
    ["nexus connections list --json | jq -r '.connections[].id'", "the ids, with jq"],
  ]);
  list.action(run(async () => {
    const o = optionsOf<{ workspace?: string; status?: string; provider?: string; limit?: number; pageToken?: string; json?: boolean }>(list);
    const answer = await context.broker().connections.listConnections({
      workspaceId: o.workspace ?? "", status: o.status ?? "", providerName: o.provider ?? "", pageSize: o.limit ?? 0, pageToken: o.pageToken ?? "",
    }, callOptions(context));
    if (o.json) {
      printJson(context, ListConnectionsResponseSchema, answer);
      return exitCodes.ok;
    }
    if (answer.connections.length === 0) context.io.stderr("No connections match.\n");
    else context.io.stdout(await connectionTable(context, answer.connections));
    if (answer.nextPageToken !== "") context.io.stderr(`More connections: add --page-token ${answer.nextPageToken}\n`);
    return exitCodes.ok;
  }));

  const revoke = connections.command("revoke").argument("<id>", "the connection's id")
    .description("Revoke a connection: the grant is revoked at the provider when it supports it (RFC 7009), the stored secrets are deleted")
    .option("--json", "print the revoked connection as JSON (the REST API's shape)");
  withExamples(revoke, [["nexus connections revoke 5d0c1a52-8c1e-4a53-9e37-0f6cfe1b2a44", "revoke one connection"]]);
  revoke.action(run(async () => {
    const answer = await context.broker().connections.revokeConnection({ connectionId: argumentOf(revoke) }, callOptions(context));
    if (optionsOf<{ json?: boolean }>(revoke).json) {
      printJson(context, RevokeConnectionResponseSchema, answer);
      return exitCodes.ok;
    }
    const c = answer.connection;
    context.io.stderr(`Revoked connection ${argumentOf(revoke)}${c === undefined ? "" : ` (${c.providerName}, workspace ${c.workspaceId})`}: its secrets are deleted.\n`);
    return exitCodes.ok;
  }));
}

/** The connections as a table, agents by name. */
async function connectionTable(context: CliContext, connections: readonly Connection[]): Promise<string> {
  const name = agentNames(context);
  const rows: Cell[][] = await Promise.all(connections.map(async (c) => [
    c.id,
    c.workspaceId,
    c.providerName,
    { text: c.statusReason === "" ? c.status : `${c.status} (${c.statusReason})`, colour: statusColour[c.status] },
    c.agentId === "" ? "-" : await name(c.agentId),
    formatMinute(c.updateTime),
  ]));
  return renderTable([
    { header: "ID" }, { header: "WORKSPACE", shrink: true }, { header: "PROVIDER", shrink: true }, { header: "STATUS", shrink: true, min: 18 },
    { header: "AGENT", shrink: true }, { header: "UPDATED (UTC)" },
  ], rows, { paint: context.paint });
}
