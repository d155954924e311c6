import type * as net from "node:net";

const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Reads a new socket's first bytes until they tell HTTP/2 with prior
 * knowledge (the 24-byte connection preface) from HTTP/1.1 (anything else),
 * then puts the bytes back and reports which. Node's plaintext http2 server
 * cannot fall back to HTTP/1.1 itself, hence this. The caller bounds how long
 * it may take: a client that sends nothing, or part of the preface, never decides.
 */
export function sniffProtocol(socket: net.Socket, decided: (protocol: "http/1.1" | "h2") => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const sniff = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, h2Preface.length);
    const isH2 = seen.subarray(0, n).equals(h2Preface.subarray(0, n));
    if (isH2 && seen.length < h2Preface.length) return; // wait for the whole preface
    socket.off("data", sniff);
    // Put the bytes back so the chosen server parses the stream from its start. Without the
    // pause HTTP/2 loses its first bytes; HTTP/1.1 needs the resume that follows its handoff.
    socket.pause();
    socket.unshift(seen);
    decided(isH2 ? "h2" : "http/1.1");
  };
  socket.on("data", sniff);
}
