import type { JsonObject } from "@bufbuild/protobuf";
import type { Command } from "commander";
import {
  type Agent,
  AgentSchema,
  CreateAgentResponseSchema,
  ListAgentsResponseSchema,
  RotateAgentKeyResponseSchema,
} from "../../../gen/nexus/broker/v1/agent_service_pb.ts";
import type { CliContext } from "../cli-context.ts";
import { CliError, exitCodes } from "../cli-io.ts";
import { commaList } from "../options.ts";
import { callOptions, printJson } from "../output.ts";
import { type Cell, formatMinute, renderTable } from "../table.ts";
import { argumentOf, jsonFlag, optionsOf, type Run, withExamples } from "./command-kit.ts";
import { inputPatterns } from "../../shared/input-rules.ts";


/** `nexus agents list | create | rotate-key | disable`. */
export function registerAgentCommands(program: Command, context: CliContext, run: Run): void {
  const agents = program.command("agents").description("Registered agents: list them, register one, rotate its key, disable it");
  withExamples(agents, [
    ["nexus agents list", "every agent, newest first"],
    ["KEY=$(nexus agents create billing-agent --allowed-providers stripe)", "register an agent; only its key goes to stdout"],
  ]);

  const list = agents.command("list").description("List agents, newest first (disabled ones too, marked so)").option("--json", jsonFlag);
  withExamples(list, [["nexus agents list", "a table"], ["nexus agents list --json | jq -r '.agents[].name'", "the names, with jq"]]);
  list.action(run(async () => {
    const answer = await context.broker().agents.listAgents({}, callOptions(context));
    if (optionsOf<{ json?: boolean }>(list).json) {
      printJson(context, ListAgentsResponseSchema, answer);
    } else if (answer.agents.length === 0) {
      context.io.stderr("No agents. Register one with: nexus agents create NAME\n");
    } else {
      context.io.stdout(agentTable(context, answer.agents));
    }
    return exitCodes.ok;
  }));

  const create = agents.command("create").argument("<name>", "lowercase kebab-case, unique among agents that are not disabled")
    .description("Register an agent. Its new API key is printed to stdout, once, and nothing else is: the details go to stderr")
    .option("--description <text>", "a human description")
    .option("--allowed-providers <names>", "providers it may connect to, comma-separated (default: all)", commaList)
    .option("--jwks-file <path>", "a JWK Set (JSON) of public keys its signed assertions are checked with")
    .option("--json", "print the agent and its key as JSON (the REST API's shape)");
  withExamples(create, [
    ["KEY=$(nexus agents create billing-agent --allowed-providers stripe,quickbooks)", "keep the key in a variable"],
    ["nexus agents create signer --jwks-file signer.jwks.json", "an agent that signs assertions with a key pair"],
  ]);
  create.action(run(async () => {
    const o = optionsOf<{ description?: string; allowedProviders?: string[]; jwksFile?: string; json?: boolean }>(create);
    const jwks = o.jwksFile === undefined ? undefined : await readJwks(context, o.jwksFile);
    const answer = await context.broker().agents.createAgent({
      agent: {
        name: argumentOf(create), description: o.description ?? "", allowedProviders: o.allowedProviders ?? [],
        ...(jwks === undefined ? {} : { jwks }),
      },
    }, callOptions(context));
    if (o.json) {
      printJson(context, CreateAgentResponseSchema, answer);
      return exitCodes.ok;
    }
    const agent = answer.agent;
    context.io.stderr(`Registered agent ${agent?.name ?? argumentOf(create)} (${agent?.id ?? "?"}), allowed ${describeProviders(agent)}.\n` +
      "Its API key is on stdout, shown this once: the Broker keeps only a digest. Store it now.\n");
    context.io.stdout(`${answer.apiKey}\n`);
    return exitCodes.ok;
  }));

  const rotate = agents.command("rotate-key").argument("<agent>", "the agent's id (or its name)")
    .description("Give an agent a new API key, printed to stdout once; the old key stops working at once")
    .option("--json", "print the new key as JSON (the REST API's shape)");
  withExamples(rotate, [["KEY=$(nexus agents rotate-key billing-agent)", "the new key, into a variable"]]);
  rotate.action(run(async () => {
    const agent = await findAgent(context, argumentOf(rotate));
    const answer = await context.broker().agents.rotateAgentKey({ id: agent.id }, callOptions(context));
    if (optionsOf<{ json?: boolean }>(rotate).json) {
      printJson(context, RotateAgentKeyResponseSchema, answer);
      return exitCodes.ok;
    }
    context.io.stderr(`Rotated the API key of agent ${agent.name} (${agent.id}): the old key no longer works.\n` +
      "The new key is on stdout, shown this once. Store it now.\n");
    context.io.stdout(`${answer.apiKey}\n`);
    return exitCodes.ok;
  }));

  const disable = agents.command("disable").argument("<agent>", "the agent's id (or its name)")
    .description("Disable an agent: its key and assertions stop working at once; it stays listed, for the audit log")
    .option("--json", "print the disabled agent as JSON (the REST API's shape)");
  withExamples(disable, [["nexus agents disable billing-agent", "by name"], ["nexus agents disable 0b6f1f0e-4a57-4a8e-9d62-2f6f1c1e7a10", "by id"]]);
  disable.action(run(async () => {
    const found = await findAgent(context, argumentOf(disable));
    const answer = await context.broker().agents.disableAgent({ id: found.id }, callOptions(context));
    if (optionsOf<{ json?: boolean }>(disable).json) {
      if (answer.agent !== undefined) printJson(context, AgentSchema, answer.agent);
      return exitCodes.ok;
    }
    context.io.stderr(`Disabled agent ${found.name} (${found.id}): its key and assertions no longer work.\n`);
    return exitCodes.ok;
  }));
}

/** The agents as a table. */
function agentTable(context: CliContext, agents: readonly Agent[]): string {
  const rows: Cell[][] = agents.map((a) => [
    a.id,
    a.name,
    a.disabled ? { text: "disabled", colour: "dim" } : { text: "active", colour: "green" },
    [a.hasApiKey && !a.disabled ? "key" : "", a.jwks !== undefined && Array.isArray(a.jwks.keys) && a.jwks.keys.length > 0 ? "jwks" : ""]
      .filter((s) => s !== "").join("+") || "-",
    a.allowedProviders.length === 0 ? "all" : a.allowedProviders.join(","),
    formatMinute(a.createTime),
  ]);
  return renderTable([
    { header: "ID" }, { header: "NAME", shrink: true, min: 12 }, { header: "STATUS" }, { header: "AUTH" },
    { header: "PROVIDERS", shrink: true }, { header: "CREATED (UTC)" },
  ], rows, { paint: context.paint });
}

function describeProviders(agent: Agent | undefined): string {
  return agent === undefined || agent.allowedProviders.length === 0 ? "every provider" : `providers ${agent.allowedProviders.join(", ")}`;
}

/**
 * The agent an argument names: by id, or by name among the agents that are
 * not disabled (names are unique only among those).
 */
async function findAgent(context: CliContext, ref: string): Promise<Agent> {
  const broker = context.broker();
  if (inputPatterns.uuid.test(ref.toLowerCase())) {
    const agent = (await broker.agents.getAgent({ id: ref }, callOptions(context))).agent;
    if (agent === undefined) throw new CliError(`no agent ${ref}`);
    return agent;
  }
  const agents = (await broker.agents.listAgents({}, callOptions(context))).agents;
  const agent = agents.find((a) => a.name === ref && !a.disabled);
  if (agent !== undefined) return agent;
  const disabled = agents.some((a) => a.name === ref);
  throw new CliError(disabled ? `agent ${ref} is disabled already` : `no agent named ${JSON.stringify(ref)}; nexus agents list shows them`);
}

/** Reads `--jwks-file`: a JSON object with a `keys` array (the Broker checks each key). */
async function readJwks(context: CliContext, path: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await context.io.readFile(path);
  } catch (error) {
    throw new CliError(`cannot read --jwks-file ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(`--jwks-file ${path} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new CliError(`--jwks-file ${path} must hold a JWK Set: {"keys": [ ... ]}`);
  }
  return value as JsonObject;
}
