import { ConfigError } from "../../shared/config-reader.ts";
import type { RunningService } from "./start-broker.ts";

/**
 * Runs one service as the process's main job: prints every configuration
 * problem and exits 1 when it cannot start; on SIGTERM or SIGINT stops
 * gracefully (within SHUTDOWN_DRAIN_SECONDS) and exits 0. A second signal
 * during the drain stops at once, with exit code 1.
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
  let stoppingSince: number | undefined;
  const stop = (signal: string) => {
    if (stoppingSince !== undefined) {
      // One keypress or `timeout` can deliver a signal twice (to make and to its process group): only a second, later one counts.
      if (Date.now() - stoppingSince < 1000) return;
      process.stderr.write(`Nexus ${name}: second ${signal}, stopping now without finishing the drain\n`);
      process.exit(1);
    }
    stoppingSince = Date.now();
    process.stderr.write(`Nexus ${name}: ${signal} received, draining in-flight calls and refreshes (a second ${signal} stops at once)\n`);
    service.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
