import type { Command } from "commander";
import type { CliContext } from "../cli-context.ts";
import type { CommandAction } from "../run-cli.ts";

/** `plan`, `apply` and `export`: providers and agents as code. */
export function registerManifestCommands(_program: Command, _context: CliContext, _run: (action: CommandAction) => () => Promise<void>): void {}
