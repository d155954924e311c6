import type { Command } from "commander";
import type { CliContext } from "../cli-context.ts";
import type { CommandAction } from "../run-cli.ts";
import { registerAgentCommands } from "./agents.ts";
import { registerAuditCommand } from "./audit.ts";
import { registerConnectionCommands } from "./connections.ts";
import { registerDoctorCommand } from "./doctor.ts";
import { registerSessionCommands } from "./sessions.ts";

/** Daily operations: agents, connections, sessions, audit, doctor. */
export function registerOpsCommands(program: Command, context: CliContext, run: (action: CommandAction) => () => Promise<void>): void {
  registerAgentCommands(program, context, run);
  registerConnectionCommands(program, context, run);
  registerSessionCommands(program, context, run);
  registerAuditCommand(program, context, run);
  registerDoctorCommand(program, context, run);
}
