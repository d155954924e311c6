import { type AddressInfo, connect, createServer, type Socket } from "node:net";

/** A TCP proxy on 127.0.0.1 that keeps every byte the target sent back. */
export interface RecordingProxy {
  readonly url: string;
  /** Everything the target sent to clients so far, as text (latin1: bytes preserved). */
  received(): string;
  /** Cuts every connection through the proxy at once (new ones still go through). */
  cut(): void;
  close(): Promise<void>;
}

/**
 * Starts a proxy to `127.0.0.1:targetPort`: what a Gateway pointed at it
 * receives from the Broker can be scanned afterwards (for refresh tokens,
 * say), and its connections cut to see what the Gateway does then.
 */
export async function startRecordingProxy(targetPort: number): Promise<RecordingProxy> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.on("data", (d: Buffer) => upstream.write(d));
    upstream.on("data", (d: Buffer) => {
      chunks.push(d);
      client.write(d);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received: () => Buffer.concat(chunks).toString("latin1"),
    cut() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
