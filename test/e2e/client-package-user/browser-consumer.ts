// A browser or Deno user of the main entry, checked with skipLibCheck off and no @types/node, prom-client or ws:
// every declaration the entry pulls in must resolve and type-check.
import { applyCredential, createClientMetrics, createNexusClient, createTokenCache, type MetricsRegistry } from "@nexus-broker/client";

export async function call(baseUrl: string, apiKey: string, registry: MetricsRegistry): Promise<Response> {
  const client = createNexusClient({ baseUrl, apiKey, metrics: createClientMetrics(registry, { agent_id: "browser" }) });
  const cache = createTokenCache({ client });
  const credential = await cache.get({ workspaceId: "alice", providerName: "sandbox-api" });
  return fetch(await applyCredential(new Request("https://api.example.com/me"), credential));
}

// @ts-expect-error a registry needs getSingleMetric and registerMetric
createClientMetrics({});
