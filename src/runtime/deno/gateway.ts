// Entry point under Deno, see broker.ts.
import { startGateway } from "../node/start-gateway.ts";
import { runUnderDeno } from "./run-under-deno.ts";

await runUnderDeno("gateway", (env) => startGateway(env, { http1KeepAlive: false }));
