/**
 * A local HTTP server standing in for the third-party API an agent calls: it
 * records every request (raw target, headers, exact body bytes) and answers
 * with what the test's `check` decides, so tests verify credentials the way a
 * provider would.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as received. */
export interface SeenRequest {
  readonly method: string;
  readonly target: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** The test's verdict: a status and an optional JSON body. */
export type Verdict = { status: number; body?: unknown };

/** A running stand-in. */
export interface ApiStandIn {
  readonly url: string;
  readonly seen: SeenRequest[];
  /** Decides each answer; replace it per test. */
  check: (req: SeenRequest) => Verdict | Promise<Verdict>;
  close(): Promise<void>;
}

/** Starts a stand-in on 127.0.0.1 with an ephemeral port. */
export async function startApiStandIn(): Promise<ApiStandIn> {
  const seen: SeenRequest[] = [];
  const api: ApiStandIn = {
    url: "",
    seen,
    check: () => ({ status: 200 }),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const seenRequest = { method: req.method ?? "GET", target: req.url ?? "/", headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(seenRequest);
      Promise.resolve(api.check(seenRequest)).then(
        (v) => {
          res.writeHead(v.status, { "content-type": "application/json" });
          res.end(JSON.stringify(v.body ?? {}));
        },
        (error: unknown) => {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: String(error) }));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (api as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}
