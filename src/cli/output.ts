import { type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";
import type { CallOptions } from "@connectrpc/connect";
import type { CliContext } from "./cli-context.ts";
import { CliError } from "./cli-io.ts";

/**
 * A message as `--json` prints it: the proto JSON the REST API answers with
 * (snake_case names, every field present, int64 as a string), so scripts
 * written against docs/api.md read the command's output the same way.
 */
export function messageJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): unknown {
  return toJson(schema, message, { useProtoFieldName: true, alwaysEmitImplicit: true });
}

/** Prints a message as one indented JSON document on stdout. */
export function printJson<Desc extends DescMessage>(context: CliContext, schema: Desc, message: MessageShape<Desc>): void {
  context.io.stdout(`${JSON.stringify(messageJson(schema, message), null, 2)}\n`);
}

/** Prints a message as one JSON line on stdout (`audit --follow --json`: one event per line). */
export function printJsonLine<Desc extends DescMessage>(context: CliContext, schema: Desc, message: MessageShape<Desc>): void {
  context.io.stdout(`${JSON.stringify(messageJson(schema, message))}\n`);
}

/** Every Broker call can be stopped with Ctrl-C. */
export function callOptions(context: CliContext, timeoutMs?: number): CallOptions {
  return { signal: context.io.interrupted, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
}

/**
 * Agent names by id, read once per run (on first use) so tables can name the
 * agent instead of showing a second UUID; an id the Broker does not know
 * stays an id.
 */
export function agentNames(context: CliContext): (id: string) => Promise<string> {
  let names: Promise<Map<string, string>> | undefined;
  return async (id) => {
    if (id === "") return "";
    names ??= context.broker().agents.listAgents({}, callOptions(context)).then((r) => new Map(r.agents.map((a) => [a.id, a.name])));
    return (await names).get(id) ?? id;
  };
}

/** Fails with one line when the command was interrupted (Ctrl-C) while it waited. */
export function throwIfInterrupted(context: CliContext): void {
  if (context.io.interrupted.aborted) throw new CliError("interrupted");
}
