// Entry point under Deno: `make run RUNTIME=deno` runs this. gRPC needs HTTP
// trailers, which Deno.serve lacks, so the server runs on node:http2 through
// Deno's Node compatibility; only the environment and signals are Deno's own.
// HTTP/1.1 keep-alive is off: Deno's Node layer closes a socket handed to
// node:http after its first response, so a reused connection would break.
import { startBroker } from "../node/start-broker.ts";
import { runUnderDeno } from "./run-under-deno.ts";

await runUnderDeno("broker", (env) => startBroker(env, { http1KeepAlive: false }));
