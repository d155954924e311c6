import { createConnection, createServer, type Socket } from "node:net";

const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** A TCP relay in front of one port that notes each connection's protocol. */
export interface ProtocolRelay {
  readonly port: number;
  /** One entry per connection so far: `h2` when it opened with the HTTP/2 preface, else `http/1.x`. */
  protocols(): readonly string[];
  close(): Promise<void>;
}

/**
 * Relays 127.0.0.1:<port> to 127.0.0.1:<targetPort> byte for byte, reading only the first bytes of each
 * connection, so a test learns what a proxy really speaks to the service behind it.
 */
export async function startProtocolRelay(targetPort: number): Promise<ProtocolRelay> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  };
  const server = createServer((client) => {
    track(client);
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    track(upstream);
    client.once("data", (first: Buffer) => {
      const head = first.subarray(0, preface.length).toString("latin1");
      seen.push(preface.startsWith(head) && head.length > 0 ? "h2" : "http/1.x");
      upstream.write(first);
      client.pipe(upstream);
    });
    upstream.pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    protocols: () => [...seen],
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
