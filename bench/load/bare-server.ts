/**
 * The HTTP ceiling baseline: a bare node:http server that answers every
 * request with the exact bytes (body and content-type) the Gateway answered
 * one real GET /v1/token, so only the Nexus work differs between the two.
 *
 *   BENCH_BODY='{...}' BENCH_CONTENT_TYPE=application/json node --import tsx bench/load/bare-server.ts <port>
 */
import { createServer } from "node:http";
import { listenOnArgv } from "./listen-on-argv.ts";

const bytes = Buffer.from(process.env.BENCH_BODY ?? "{}");
const contentType = process.env.BENCH_CONTENT_TYPE ?? "application/json";
const server = createServer((req, res) => {
  // Drain the request like a real server must, then answer.
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": contentType, "content-length": bytes.length });
    res.end(bytes);
  });
});
listenOnArgv(server);
