import type { Command } from "commander";
import type { CliContext } from "../cli-context.ts";
import type { CommandAction } from "../run-cli.ts";

/** Daily operations: agents, connections, sessions, audit, doctor. */
export function registerOpsCommands(_program: Command, _context: CliContext, _run: (action: CommandAction) => () => Promise<void>): void {}
