// The Node entry from plain node: gRPC over HTTP/2 to the Gateway, bob's connection by workspace.
import { createNexusClient, NexusClientError } from "@nexus-broker/client";
import { grpcTransport } from "@nexus-broker/client/node";

const baseUrl = process.env.NEXUS_GATEWAY_URL;
const transport = grpcTransport(baseUrl);
// A fetch that always fails: the calls can only succeed over gRPC, which does not use fetch.
const fetch = () => Promise.reject(new Error("the fetch-based transports were used"));
const nexus = createNexusClient({ baseUrl, apiKey: process.env.NEXUS_AGENT_KEY, transport, fetch, logger: {} });

const credential = await nexus.resolveToken("bob", "sandbox-api");
const { status } = await nexus.checkConnection(process.env.CONNECTION_ID);
const missing = await nexus.getToken("3f1c1a8e-8e0e-4c55-9a53-2b7f0f6f2a11").catch((error) => error);
console.log(JSON.stringify({
  status,
  strategy: credential.strategy.type,
  keyMatches: credential.credentials.api_key === process.env.EXPECTED_KEY,
  error: missing instanceof NexusClientError ? missing.reason : String(missing),
}));
transport.close();
