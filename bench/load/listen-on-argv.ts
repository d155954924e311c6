import type { Server } from "node:http";

/**
 * Starts a baseline server on the port given as the first argument (0 picks
 * one), prints `{"port":n}` for the orchestrator, and exits cleanly on
 * SIGTERM or SIGINT.
 */
export function listenOnArgv(server: Server): void {
  server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
    });
  }
}
