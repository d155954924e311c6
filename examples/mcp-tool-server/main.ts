/**
 * Runs the tool server on Node: reads its settings from the environment and
 * serves the fetch-style handler over node:http on 127.0.0.1.
 *
 *   NEXUS_GATEWAY_URL=... NEXUS_AGENT_ID=... NEXUS_AGENT_KEY=... \
 *   PROVIDER_NAME=sandbox-api PROVIDER_API_URL=http://127.0.0.1:8071 PORT=8095 \
 *   npx tsx examples/mcp-tool-server/main.ts
 */
import { createServer } from "node:http";
import { createToolServer } from "./tool-server.ts";

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") throw new Error(`${name} is required (see docs/mcp.md)`);
  return value;
};

const handle = createToolServer({
  gatewayUrl: env("NEXUS_GATEWAY_URL", "http://localhost:8090"),
  agentId: env("NEXUS_AGENT_ID"),
  agentKey: env("NEXUS_AGENT_KEY"),
  providerName: env("PROVIDER_NAME", "sandbox-api"),
  providerApiUrl: env("PROVIDER_API_URL"),
});
const port = Number(env("PORT", "8095"));

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks);
    handle(new Request(`http://127.0.0.1:${port}${req.url ?? "/"}`, { method: req.method ?? "GET", headers, ...(body === undefined ? {} : { body }) }))
      .then(async (response) => {
        res.writeHead(response.status, Object.fromEntries(response.headers));
        res.end(Buffer.from(await response.arrayBuffer()));
      })
      .catch((error: unknown) => {
        console.error("tool server error", error instanceof Error ? error.message : error);
        res.writeHead(500, { "content-type": "application/json" }).end('{"error":"internal"}');
      });
  });
});
server.listen(port, "127.0.0.1", () => console.error(`mcp tool server listening on http://127.0.0.1:${port}/mcp`));
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
