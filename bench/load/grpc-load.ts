/**
 * gRPC load worker: GetToken over h2c on one HTTP/2 session (as a backend
 * agent would hold), keeping `concurrency` calls in flight and walking the
 * ids round-robin. Runs in its own process.
 *
 * It speaks gRPC on node:http2 directly, each request message encoded once
 * up front, and checks every answer (a message, then grpc-status 0 in the
 * trailers). connect-node's gRPC client spent about 590 µs of CPU per call
 * here, four times autocannon's per HTTP/1.1 request, on the same two cores
 * as the servers it measured: the load generator was a large part of what
 * limited gRPC's rate (BENCHMARKS.md).
 *
 *   node --import tsx bench/load/grpc-load.ts < config.json
 */
import { connect, constants } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetTokenRequestSchema } from "../../gen/nexus/common/v1/token_pb.ts";
import { readConfig, type Recorder, warmUpThenMeasure } from "./worker-io.ts";

/** The worker's stdin. */
export interface GrpcLoadConfig {
  origin: string;
  ids: string[];
  agentKey: string;
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
}

const config = await readConfig<GrpcLoadConfig>();
const session = connect(config.origin);
session.on("error", () => {});
// Each request is one gRPC frame: flag 0 (uncompressed), a big-endian length, the message.
const frames = config.ids.map((connectionId) => {
  const message = toBinary(GetTokenRequestSchema, create(GetTokenRequestSchema, { connectionId }));
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
});
const headers = {
  [constants.HTTP2_HEADER_METHOD]: "POST",
  [constants.HTTP2_HEADER_PATH]: "/nexus.gateway.v1.GatewayService/GetToken",
  "content-type": "application/grpc+proto",
  te: "trailers",
  "grpc-timeout": "10S",
  authorization: `Bearer ${config.agentKey}`,
};
let next = 0;

/** One call: resolves with "" when the answer carried a message and grpc-status 0, else with what went wrong. */
function call(frame: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const stream = session.request(headers);
    let bytes = 0;
    let status: string | undefined;
    let message = "";
    const read = (h: Record<string, unknown>) => {
      if (h["grpc-status"] !== undefined) {
        status = String(h["grpc-status"]);
        message = String(h["grpc-message"] ?? "");
      }
    };
    stream.on("response", read);
    stream.on("trailers", read);
    stream.on("data", (d: Buffer) => void (bytes += d.byteLength));
    stream.on("error", (error: Error) => resolve(`error: ${error.message}`));
    stream.on("close", () => {
      if (status === "0" && bytes > 5) resolve("");
      else resolve(status === undefined ? "error: no grpc-status" : `grpc-status ${status} ${decodeURIComponent(message)}`);
    });
    stream.end(frame);
  });
}

/** Keeps `concurrency` loops calling until `seconds` have passed. */
async function drive(seconds: number, recorder: Recorder | undefined): Promise<void> {
  const end = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const frame = frames[next++ % frames.length]!;
      const t0 = performance.now();
      const outcome = await call(frame);
      if (outcome === "") recorder?.ok(performance.now() - t0);
      else if (outcome.startsWith("grpc-status")) recorder?.non2xx(performance.now() - t0, outcome);
      else recorder?.error(outcome);
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, loop));
}

await warmUpThenMeasure(drive, config.warmupSeconds, config.seconds);
// The HTTP/2 session would keep the process alive.
process.exit(0);
