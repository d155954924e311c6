// Entry point: `make gateway`. Configured only by the environment.
import { runService } from "./run-service.ts";
import { startGateway } from "./start-gateway.ts";

await runService("gateway", () => startGateway(process.env));
