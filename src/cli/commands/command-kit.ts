import type { Command } from "commander";
import type { CommandAction } from "../run-cli.ts";

/** How run-cli.ts wraps an action: the action resolves to the exit code. */
export type Run = (action: CommandAction) => () => Promise<void>;

/** The `--json` flag's help, the same on every command that prints data. */
export const jsonFlag = "print the Broker's answer as JSON (the REST API's shape) instead of a table";

/**
 * Adds an "Examples:" block after a command's help: each entry a command
 * line and what it does.
 */
export function withExamples(command: Command, examples: readonly (readonly [string, string])[]): Command {
  const lines = examples.flatMap(([line, what]) => [`  # ${what}`, `  $ ${line}`]);
  return command.addHelpText("after", `\nExamples:\n${lines.join("\n")}\n`);
}

/** The options commander parsed for `command`, typed. */
export function optionsOf<T>(command: Command): T {
  return command.opts<T & Record<string, unknown>>();
}

/** The first positional argument of `command` (commander has checked it is there). */
export function argumentOf(command: Command, index = 0): string {
  return String(command.processedArgs[index] ?? command.args[index] ?? "");
}
