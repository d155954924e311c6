import { ConfigError, type Env } from "../../shared/config-reader.ts";
import type { RunningService } from "../node/start-broker.ts";

declare const Deno: {
  env: { toObject(): Record<string, string> };
  addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  exit(code: number): never;
  stderr: { writeSync(bytes: Uint8Array): number };
};

const write = (text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text));

/** Runs a service under Deno: Deno's environment, Deno's signals. */
export async function runUnderDeno(name: string, start: (env: Env) => Promise<RunningService>): Promise<void> {
  let service: RunningService;
  try {
    service = await start(Deno.env.toObject());
  } catch (error) {
    write(error instanceof ConfigError
      ? `Nexus ${name} cannot start; fix its configuration:\n${error.problems.map((p) => `  - ${p}\n`).join("")}`
      : `Nexus ${name} cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    Deno.exit(1);
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    service.close().then(() => Deno.exit(0), () => Deno.exit(1));
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
