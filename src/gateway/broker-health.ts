import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.ts";
import type { HealthSource, ServingStatus } from "../shared/server/health-service.ts";
import type { BrokerClients } from "./broker-clients.ts";

/**
 * Readiness of the Gateway: SERVING while the Broker reports SERVING. Cached
 * for a second so probes do not load the Broker; a Broker that does not answer
 * within the timeout counts as down.
 */
export function createBrokerHealth(broker: BrokerClients, now: () => number, timeoutMs = 1500): HealthSource {
  let cached: { at: number; status: Promise<ServingStatus> } | undefined;
  async function probe(): Promise<ServingStatus> {
    try {
      const res = await broker.health.check({ service: "" }, { timeoutMs });
      return res.status === HealthCheckResponse_ServingStatus.SERVING ? "SERVING" : "NOT_SERVING";
    } catch {
      return "NOT_SERVING";
    }
  }
  return {
    check() {
      const t = now();
      if (cached === undefined || t - cached.at > 1000) cached = { at: t, status: probe() };
      return cached.status;
    },
  };
}
