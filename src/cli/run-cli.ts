import { Command, CommanderError } from "commander";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { type CliContext, createCliContext, type GlobalOptions } from "./cli-context.ts";
import { CliError, type CliIo, exitCodes } from "./cli-io.ts";
import { registerManifestCommands } from "./commands/manifest-commands.ts";
import { registerOpsCommands } from "./commands/ops-commands.ts";
import { networkFailure } from "./network-error.ts";

/** A command's action: resolves to its exit code. */
export type CommandAction = () => Promise<number>;

/**
 * Runs the `nexus` command with `argv` (the arguments after the program name)
 * and resolves to its exit code: 0 done or no changes, 1 error, 2 `plan` found
 * changes. Never throws: every failure is one line on stderr.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = exitCodes.ok;
  const program = new Command("nexus")
    .description("Operate Nexus: providers and agents as code (plan, apply, export) and daily administration.\n" +
      "Talks to the Broker's admin API: NEXUS_BROKER_URL and NEXUS_ADMIN_KEY, or the flags below.")
    .option("--broker-url <url>", "the Broker's URL (default: $NEXUS_BROKER_URL)")
    .option("--admin-key <key>", "one of the Broker's API_KEY values (default: $NEXUS_ADMIN_KEY)")
    .version(io.version ?? "0.0.0-dev", "-V, --version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s), outputError: (s, write) => write(s),
      // Help is wrapped at the width tables fit in, and coloured as the rest: the same on every machine (docs/cli.md quotes it).
      getOutHelpWidth: () => 100, getErrHelpWidth: () => 100, getOutHasColors: () => io.color, getErrHasColors: () => io.color,
    });
  const context: CliContext = createCliContext(io, () => program.opts<GlobalOptions>());
  // Commands report their exit code through this, so commander's own flow stays untouched.
  const run = (action: CommandAction) => async () => {
    code = await action();
  };
  registerManifestCommands(program, context, run);
  registerOpsCommands(program, context, run);
  program.commands.forEach((c) => c.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) }));
  try {
    await program.parseAsync([...argv], { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end "with an error" that is a success.
      return error.exitCode === 0 || error.code === "commander.helpDisplayed" || error.code === "commander.version" ? exitCodes.ok : exitCodes.error;
    }
    io.stderr(`nexus: ${describe(error)}\n`);
    return exitCodes.error;
  }
}

/**
 * One line for a failure: a Broker refusal by its reason (from the ErrorInfo
 * detail, never parsed from the text), a local one by its message; never a
 * stack or a secret.
 */
export function describe(error: unknown): string {
  if (error instanceof CliError) return error.message;
  if (error instanceof ConnectError) {
    const info = error.findDetails(ErrorInfoSchema)[0];
    const reason = info?.reason;
    const message = decodeURIComponent(error.rawMessage);
    if (error.code === Code.Canceled) return "interrupted";
    const network = reason === undefined ? networkFailure(error) : undefined;
    if (network !== undefined) return `the Broker is not reachable (${network}); check NEXUS_BROKER_URL and that the Broker is running`;
    if (reason === "unauthenticated") return "the Broker refused the admin key; check NEXUS_ADMIN_KEY";
    // A server without the admin API has no route for it (ErrorInfo names the path): most often the Gateway's URL given for the Broker's.
    if ((reason === undefined && error.code === Code.Unimplemented) || (reason === "not_found" && info?.metadata.path?.startsWith("/nexus.broker.") === true)) {
      return "NEXUS_BROKER_URL does not serve the Broker's admin API: is it the Gateway's URL? (the Broker listens on port 8080 by default)";
    }
    return reason === undefined || message.startsWith(`${reason}:`) ? message : `${reason}: ${message}`;
  }
  return error instanceof Error ? error.message : String(error);
}
