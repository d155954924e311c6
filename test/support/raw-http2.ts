/**
 * Just enough HTTP/2 to misbehave on purpose: node:http2's client respects
 * the server's SETTINGS (it queues streams beyond the stream cap), so tests
 * that must exceed them write frames by hand on a raw socket.
 */
import type { RawSocket } from "./raw-sockets.ts";

export const frameType = { data: 0, headers: 1, rstStream: 3, settings: 4, ping: 6, goAway: 7 } as const;
export const errorCode = { noError: 0, protocolError: 1, cancel: 8, refusedStream: 7 } as const;
export const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** One frame as received. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
  /** RST_STREAM and GOAWAY error code. */
  readonly code?: number;
}

/** Encodes one frame. */
export function frame(type: number, flags: number, stream: number, payload: Uint8Array = new Uint8Array()): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** The client preface followed by an empty SETTINGS frame. */
export function clientPreface(): Buffer {
  return Buffer.concat([Buffer.from(preface), frame(frameType.settings, 0, 0)]);
}

/**
 * A HEADERS frame (END_HEADERS set) whose block is HPACK literals without
 * indexing or Huffman coding: no table state, so any number can be sent.
 */
export function headers(stream: number, fields: Record<string, string>, endStream: boolean): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (name.length > 126 || value.length > 126) throw new RangeError("keep test header fields under 127 bytes");
    parts.push(Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value));
  }
  return frame(frameType.headers, 0x4 | (endStream ? 0x1 : 0), stream, Buffer.concat(parts));
}

/** Parses every complete frame at the start of `bytes`. */
export function parseFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  while (bytes.length - at >= 9) {
    const length = bytes.readUIntBE(at, 3);
    if (bytes.length - at < 9 + length) break;
    const type = bytes[at + 3]!;
    const payload = bytes.subarray(at + 9, at + 9 + length);
    const code = type === frameType.rstStream ? payload.readUInt32BE(0) : type === frameType.goAway ? payload.readUInt32BE(4) : undefined;
    frames.push({ type, flags: bytes[at + 4]!, stream: bytes.readUInt32BE(at + 5) & 0x7fffffff, payload, ...(code === undefined ? {} : { code }) });
    at += 9 + length;
  }
  return frames;
}

/** The frames a raw socket has received so far. */
export function framesOf(raw: RawSocket): Frame[] {
  return parseFrames(Buffer.from(raw.received(), "latin1"));
}

/** Resolves with the frames once `done(frames)` holds; rejects if the socket closes first. */
export async function waitForFrames(raw: RawSocket, done: (frames: Frame[]) => boolean, ms = 10_000): Promise<Frame[]> {
  const end = Date.now() + ms;
  for (;;) {
    const frames = framesOf(raw);
    if (done(frames)) return frames;
    if (raw.socket.destroyed) throw new Error(`socket closed; frames: ${JSON.stringify(frames.map((f) => [f.type, f.stream, f.code]))}`);
    if (Date.now() > end) throw new Error(`timed out; frames: ${JSON.stringify(frames.map((f) => [f.type, f.stream, f.code]))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
