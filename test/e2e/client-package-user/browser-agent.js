// Bundled by esbuild for the browser: the client on a page of another origin than the Gateway's.
import { createNexusClient } from "@nexus-broker/client";

const query = new URLSearchParams(location.search);
const out = document.getElementById("result");
const results = [];
for (const transport of ["connect", "grpc-web"]) {
  const nexus = createNexusClient({ baseUrl: query.get("gateway"), apiKey: query.get("key"), transport, logger: {} });
  try {
    const { status } = await nexus.checkConnection(query.get("connection"));
    const credential = await nexus.getToken(query.get("connection"));
    results.push({ transport, status, strategy: credential.strategy.type, apiKey: credential.credentials.api_key });
  } catch (error) {
    results.push({ transport, error: `${error.name}: ${error.message}` });
  }
}
out.textContent = JSON.stringify(results);
out.dataset.done = "1";
