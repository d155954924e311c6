import { connect, type Socket } from "node:net";

/** A client socket that records what the server sent and when it closed the connection. */
export interface RawSocket {
  readonly socket: Socket;
  /** When the connection was started (ms since epoch): never after the server accepted it. */
  readonly openedAt: number;
  /** Everything received so far, as latin1 text. */
  received(): string;
  /** Resolves once the connection is closed, with ms since `from` (default: when it was started). */
  closed(from?: number): Promise<{ afterMs: number; text: string }>;
  /** Resolves once `text` has been received. */
  receivedText(text: string): Promise<void>;
  write(data: string | Uint8Array): void;
}

/** Connects to 127.0.0.1:`port`; resolves once connected. */
export function openRaw(port: number): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    // Taken before connecting: the server may accept before this process sees "connect".
    const openedAt = Date.now();
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let closedAt: number | undefined;
    const closeWaiters: (() => void)[] = [];
    const dataWaiters: (() => void)[] = [];
    socket.on("data", (c: Buffer) => {
      chunks.push(c);
      for (const w of dataWaiters.splice(0)) w();
    });
    // A reset is a close too: that is what these tests look for.
    socket.on("error", () => {});
    socket.on("close", () => {
      closedAt = Date.now();
      for (const w of closeWaiters.splice(0)) w();
      for (const w of dataWaiters.splice(0)) w();
    });
    socket.once("connect", () => {
      const received = () => Buffer.concat(chunks).toString("latin1");
      resolve({
        socket,
        openedAt,
        received,
        write: (data) => void socket.write(data),
        async closed(from = openedAt) {
          if (closedAt === undefined) await new Promise<void>((r) => closeWaiters.push(r));
          return { afterMs: closedAt! - from, text: received() };
        },
        async receivedText(text) {
          while (!received().includes(text)) {
            if (closedAt !== undefined) throw new Error(`closed before ${JSON.stringify(text)} arrived; got ${JSON.stringify(received())}`);
            await new Promise<void>((r) => dataWaiters.push(r));
          }
        },
      });
    });
    socket.once("error", reject);
  });
}

/** Opens `n` raw sockets, a few at a time so the accept queue never overflows. */
export async function openMany(port: number, n: number, then?: (s: RawSocket) => void): Promise<RawSocket[]> {
  const out: RawSocket[] = [];
  while (out.length < n) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - out.length) }, () => openRaw(port)));
    for (const s of batch) then?.(s);
    out.push(...batch);
  }
  return out;
}

/** Timing of `fn`, in ms. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}
