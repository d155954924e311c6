// Entry point: `make broker`. Configured only by the environment.
import { runService } from "./run-service.ts";
import { startBroker } from "./start-broker.ts";

await runService("broker", () => startBroker(process.env));
