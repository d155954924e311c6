/**
 * The registered agent `make run` hands developers (and the web app) instead
 * of an unscoped AGENT_API_KEYS key: registered once through the Broker's
 * AgentService, reused while its stored key still works. Development only.
 */
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AgentService } from "../../../gen/nexus/broker/v1/agent_service_pb.ts";
import { ConnectionService } from "../../../gen/nexus/broker/v1/connection_service_pb.ts";
import { agentCredentialHeader } from "../../broker/handlers/caller.ts";
import type { StoredAgent } from "./dev-keys.ts";

/** Options of {@linkcode ensureDevelopmentAgent}. */
export interface DevelopmentAgentOptions {
  /** The Broker, reached directly (it is on this machine). */
  readonly brokerUrl: string;
  /** A Broker API key: AgentService is an admin service. */
  readonly adminKey: string;
  /** The agent dev.env remembers, if any. */
  readonly stored: StoredAgent | undefined;
  /** @default "dev-agent" */
  readonly name?: string;
}

/** The development agent, and what had to be done to have it. */
export interface DevelopmentAgent extends StoredAgent {
  readonly name: string;
  /** `reused`: the stored key works; `rotated`: the agent existed but its key was not known here; `created`: newly registered. */
  readonly outcome: "reused" | "rotated" | "created";
}

/**
 * Returns a working key of the development agent. The stored key is kept when
 * the Broker accepts it. An agent of that name whose key is lost (dev.env
 * edited, or another database) gets a new key by RotateAgentKey rather than
 * a second registration; a disabled or unknown one is registered anew.
 */
export async function ensureDevelopmentAgent(options: DevelopmentAgentOptions): Promise<DevelopmentAgent> {
  const name = options.name ?? "dev-agent";
  const admin: Interceptor = (next) => (req) => {
    req.header.set("x-api-key", options.adminKey);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl: options.brokerUrl, interceptors: [admin] });
  const agents = createClient(AgentService, transport);
  const connections = createClient(ConnectionService, transport);

  /**
   * Whether the Broker accepts `key`, asked the way the Gateway asks it for
   * every agent call. Not through the Gateway: it starts after this, serving
   * the web app that carries the key. An unknown connection id answers
   * not_found once the key passed; a refused key answers unauthenticated.
   */
  async function accepted(key: string): Promise<boolean> {
    try {
      await connections.getConnection({ connectionId: crypto.randomUUID() }, { headers: { [agentCredentialHeader]: key } });
      return true;
    } catch (error) {
      const code = ConnectError.from(error).code;
      if (code === Code.Unauthenticated) return false;
      if (code === Code.NotFound) return true;
      throw error;
    }
  }

  const stored = options.stored;
  if (stored !== undefined) {
    const current = await agents.getAgent({ id: stored.id }).then((r) => r.agent, () => undefined);
    if (current !== undefined && !current.disabled) {
      if (await accepted(stored.key)) return { id: stored.id, key: stored.key, name: current.name, outcome: "reused" };
      const { apiKey } = await agents.rotateAgentKey({ id: stored.id });
      return { id: stored.id, key: apiKey, name: current.name, outcome: "rotated" };
    }
  }
  const existing = (await agents.listAgents({})).agents.find((a) => a.name === name && !a.disabled);
  if (existing !== undefined) {
    const { apiKey } = await agents.rotateAgentKey({ id: existing.id });
    return { id: existing.id, key: apiKey, name, outcome: "rotated" };
  }
  const created = await agents.createAgent({
    agent: { name, description: "The development agent `make run` registered; its key is in .nexus/dev.env. Development only." },
  });
  return { id: created.agent?.id ?? "", key: created.apiKey, name, outcome: "created" };
}
