import * as http2 from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { StatusSchema } from "../../gen/google/rpc/status_pb.ts";

/** A gRPC or gRPC-Web answer: the status from the trailers, its message, the Nexus reason, and every trailer. */
export interface RawRpcReply {
  readonly grpcStatus: number;
  readonly message: string;
  readonly reason: string | undefined;
  readonly trailers: Record<string, string>;
}

/** Frames one message as gRPC does: flags, 4-byte length, payload. */
export function envelope(message: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + message.byteLength);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, message.byteLength);
  out.set(message, 5);
  return out;
}

/** `count` START_GROUP tags of field 15, never closed: protobuf nesting as deep as the bytes allow. */
export function nestedGroups(count: number): Uint8Array {
  return new Uint8Array(count).fill((15 << 3) | 3);
}

function reply(trailers: Record<string, string>): RawRpcReply {
  const bin = trailers["grpc-status-details-bin"];
  const status = bin === undefined ? undefined : fromBinary(StatusSchema, Buffer.from(bin, "base64"));
  const info = status?.details.map((any) => anyUnpack(any, ErrorInfoSchema)).find((x) => x !== undefined);
  return {
    grpcStatus: Number(trailers["grpc-status"] ?? "-1"),
    message: decodeURIComponent(trailers["grpc-message"] ?? ""),
    reason: info?.reason,
    trailers,
  };
}

/** Sends raw bytes as one gRPC call over h2c and reads the status from the trailers. */
export async function rawGrpc(baseUrl: string, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<RawRpcReply> {
  const session = http2.connect(baseUrl);
  try {
    return await new Promise<RawRpcReply>((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
      let head: Record<string, string> = {};
      req.on("response", (h) => (head = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]))));
      req.on("trailers", (t) => resolve(reply(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, String(v)])))));
      // A trailers-only answer carries the status in the headers.
      req.on("end", () => resolve(reply(head)));
      req.on("data", () => {});
      req.on("error", reject);
      req.end(body);
    });
  } finally {
    session.close();
  }
}

/** Sends raw bytes as one gRPC-Web call over HTTP/1.1 and reads the status from the trailer frame. */
export async function rawGrpcWeb(baseUrl: string, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<RawRpcReply & { httpStatus: number }> {
  const res = await fetch(`${baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/grpc-web+proto", ...headers }, body: Buffer.from(body) });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const trailers: Record<string, string> = {};
  for (let offset = 0; offset + 5 <= bytes.byteLength;) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset + 1, 4).getUint32(0);
    if (bytes[offset] === 0x80) {
      for (const line of new TextDecoder().decode(bytes.subarray(offset + 5, offset + 5 + length)).split("\r\n")) {
        const at = line.indexOf(":");
        if (at > 0) trailers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
    }
    offset += 5 + length;
  }
  return { ...reply(trailers), httpStatus: res.status };
}
