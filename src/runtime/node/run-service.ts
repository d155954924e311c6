import { ConfigError } from "../../shared/config-reader.ts";
import type { RunningService } from "./start-broker.ts";

/**
 * Runs one service as the process's main job: prints every configuration
 * problem and exits 1 when it cannot start; on SIGTERM or SIGINT stops
 * gracefully and exits 0.
 */
export async function runService(name: string, start: () => Promise<RunningService>): Promise<void> {
  let service: RunningService;
  try {
    service = await start();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Nexus ${name} cannot start; fix its configuration:\n${error.problems.map((p) => `  - ${p}\n`).join("")}`);
    } else {
      process.stderr.write(`Nexus ${name} cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`Nexus ${name}: ${signal} received, draining in-flight calls\n`);
    service.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
