/**
 * An MCP-style tool server that acts for a user through a Nexus session.
 *
 * It simulates MCP's Streamable HTTP transport in its simplest form: JSON-RPC
 * 2.0 messages POSTed to /mcp (`initialize`, `tools/list`, `tools/call`),
 * answered with one JSON body (no SSE stream, no Mcp-Session-Id), and the
 * caller's credential as a bearer token, as MCP's authorization spec has it.
 * Here that bearer is a Nexus session token delegated to this server's own
 * registered agent. The server verifies it itself through the Gateway's JWKS,
 * and for every tool call exchanges it (RFC 8693, with its own agent key) for
 * the user's provider credential, which the client refuses to send anywhere
 * but the session's allowed hosts.
 */
import { authenticatedFetch, createNexusClient, NexusClientError } from "@nexus-broker/client";
import { createSessionVerifier, type VerifiedSession } from "./session-verifier.ts";

/** Options of {@linkcode createToolServer}. */
export interface ToolServerOptions {
  /** Where this server reaches the Gateway. */
  readonly gatewayUrl: string;
  /** This server's registered agent: its id (sessions must be delegated to it) and its API key. */
  readonly agentId: string;
  readonly agentKey: string;
  /** The provider the tool calls (the exchange checks the session is for it) and its API's base URL. */
  readonly providerName: string;
  readonly providerApiUrl: string;
}

type RpcRequest = { jsonrpc?: string; id?: string | number | null; method?: string; params?: { name?: string } };

const tools = [{
  name: "get_profile",
  description: "Reads the user's profile at the provider, with the credential the user's session allows.",
  inputSchema: { type: "object", properties: {}, additionalProperties: false },
}];

/** A fetch-style handler: `(request) => response`. */
export function createToolServer(options: ToolServerOptions): (request: Request) => Promise<Response> {
  const nexus = createNexusClient({ baseUrl: options.gatewayUrl, apiKey: options.agentKey });
  const verify = createSessionVerifier({ gatewayUrl: options.gatewayUrl, agentId: options.agentId });

  async function getProfile(sessionToken: string, session: VerifiedSession): Promise<unknown> {
    // No shared cache: each call exchanges again, so a revoked session stops at the very next call.
    const api = authenticatedFetch({ client: nexus, sessionToken, resource: options.providerName });
    const res = await api(new URL("/me", options.providerApiUrl));
    const body = await res.text();
    if (!res.ok) throw new Error(`the provider answered ${res.status} for session ${session.sessionId}`);
    return JSON.parse(body);
  }

  return async (request) => {
    const url = new URL(request.url);
    if (url.pathname !== "/mcp") return json(404, { error: "not found" });
    if (request.method !== "POST") return json(405, { error: "POST JSON-RPC messages to /mcp" });
    const token = /^Bearer (\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    if (token === undefined) return unauthorized("a Nexus session token is required as the bearer token");
    let session: VerifiedSession;
    try {
      session = await verify(token);
    } catch (error) {
      return unauthorized(`the session token was refused: ${error instanceof Error ? error.message : "invalid"}`);
    }
    const message = (await request.json().catch(() => ({}))) as RpcRequest;
    const id = message.id ?? null;
    if (message.id === undefined) return new Response(null, { status: 202 }); // a notification
    switch (message.method) {
      case "initialize":
        return rpc(id, { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "nexus-profile-tool", version: "1.0.0" } });
      case "tools/list":
        return rpc(id, { tools });
      case "tools/call": {
        if (message.params?.name !== "get_profile") return rpcError(id, -32602, `unknown tool "${String(message.params?.name)}"`);
        try {
          const profile = await getProfile(token, session);
          return rpc(id, { content: [{ type: "text", text: JSON.stringify(profile) }], isError: false });
        } catch (error) {
          // A revoked or expired session is a dead token: MCP says 401, so the caller knows to get a new one.
          if (error instanceof NexusClientError && error.reason === "invalid_grant") return unauthorized(error.message);
          return rpc(id, { content: [{ type: "text", text: error instanceof Error ? error.message : "failed" }], isError: true });
        }
      }
      default:
        return rpcError(id, -32601, `method "${String(message.method)}" not found`);
    }
  };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

function rpc(id: string | number | null, result: unknown): Response {
  return json(200, { jsonrpc: "2.0", id, result });
}

function rpcError(id: string | number | null, code: number, message: string): Response {
  return json(200, { jsonrpc: "2.0", id, error: { code, message } });
}

/** RFC 6750 section 3: the bearer token is missing, bad, expired or revoked. */
function unauthorized(description: string): Response {
  const quoted = description.replace(/["\\]/g, "'");
  return json(401, { error: "invalid_token", error_description: description }, { "www-authenticate": `Bearer error="invalid_token", error_description="${quoted}"` });
}
