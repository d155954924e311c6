import { importJWK, type JWK } from "jose";
import { invalidArgument, NexusError } from "../../shared/errors.ts";
import { type Agent, keyDigest, newAgentKey } from "../domain/agent.ts";
import { parseAgentDescription, parseAgentName, parseAllowedProviders, parseJwks } from "../domain/agent-rules.ts";
import { parseUuid } from "../../shared/input-rules.ts";
import type { AgentStore, AuditLog } from "../domain/ports.ts";
import type { JsonObject } from "../domain/provider.ts";

/** An agent as an operator describes it. */
export interface AgentDraft {
  readonly name: string;
  readonly description: string;
  readonly allowedProviders: readonly string[];
  readonly jwks: JsonObject | null;
}

/** Administering registered agents. */
export interface AgentService {
  /** Registers an agent; its API key is in the answer and nowhere else, ever. */
  create(draft: AgentDraft, caller: string): Promise<{ agent: Agent; apiKey: string }>;
  list(): Promise<Agent[]>;
  get(id: string): Promise<Agent>;
  /** Changes the named fields (`description`, `allowed_providers`, `jwks`); with `expectedVersion`, only if unchanged since. */
  update(id: string, changes: Partial<Omit<AgentDraft, "name">>, caller: string, expectedVersion?: bigint): Promise<Agent>;
  /** A new key; the old one stops working at once on every replica. */
  rotateKey(id: string, caller: string): Promise<string>;
  /** Disables the agent: none of its credentials work any more, on any replica. With `expectedVersion`, only if unchanged since. */
  disable(id: string, caller: string, expectedVersion?: bigint): Promise<Agent>;
}

/** What the agent service uses. */
export interface AgentServiceDeps {
  readonly agents: AgentStore;
  readonly audit: AuditLog;
  readonly randomUUID: () => string;
  /**
   * This Broker's cache of agents: a change is dropped from it before the call answers, so the Broker that
   * made it never serves the old agent (other Brokers hear of it through the change feed).
   */
  readonly cache: { invalidate(id: string): void };
}

/** Creates the agent administration use cases. Every change is an audit event; no key, digest or JWKS is ever in one. */
export function createAgentService(deps: AgentServiceDeps): AgentService {
  async function mustGet(id: string): Promise<Agent> {
    const agentId = parseUuid(id, "id");
    const agent = await deps.agents.get(agentId);
    if (agent === undefined) throw new NexusError("agent_not_found", `no agent ${agentId}`, { field: "id" });
    return agent;
  }
  /**
   * A changed agent that came back undefined was disabled meanwhile (or never
   * existed). Not `agent_disabled`: that reason is an agent's failed
   * authentication (401), and here the operator's key is fine; the id they
   * gave names an agent that can no longer change.
   */
  async function live(id: string, changed: Agent | undefined, readVersion?: bigint): Promise<Agent> {
    if (changed !== undefined) return changed;
    const now = await mustGet(id);
    if (now.disabledAt === null && readVersion !== undefined && now.version !== readVersion) {
      throw new NexusError("concurrent_change", `agent "${now.name}" changed while this update was prepared; read it again and retry`);
    }
    throw invalidArgument("id", "names a disabled agent, which cannot be changed or get a new key; register a new one");
  }
  function audit(eventType: string, agent: Agent, caller: string, details: JsonObject = {}): void {
    deps.audit.record({ eventType, caller, outcome: "success", details: { agent_id: agent.id, agent_name: agent.name, ...details } });
  }

  return {
    async create(draft, caller) {
      const id = deps.randomUUID();
      const apiKey = newAgentKey(id);
      const agent = await deps.agents.create({
        id,
        name: parseAgentName(draft.name),
        description: parseAgentDescription(draft.description),
        allowedProviders: parseAllowedProviders(draft.allowedProviders),
        jwks: await checkedJwks(draft.jwks),
        keyDigest: await keyDigest(apiKey),
      });
      audit("agent.created", agent, caller, { allowed_providers: agent.allowedProviders.length, has_jwks: agent.jwks !== null });
      return { agent, apiKey };
    },
    list: () => deps.agents.list(),
    get: mustGet,
    async update(id, changes, caller, expectedVersion) {
      const current = await mustGet(id);
      assertVersion(current, expectedVersion);
      if (Object.keys(changes).length === 0) throw invalidArgument("update_mask", "names no field; list description, allowed_providers or jwks");
      const agent = await live(current.id, await deps.agents.update(current.id, {
        ...(changes.description === undefined ? {} : { description: parseAgentDescription(changes.description) }),
        ...(changes.allowedProviders === undefined ? {} : { allowedProviders: parseAllowedProviders(changes.allowedProviders) }),
        ...(changes.jwks === undefined ? {} : { jwks: await checkedJwks(changes.jwks) }),
      }, current.version), current.version);
      deps.cache.invalidate(current.id);
      audit("agent.updated", agent, caller, { fields: Object.keys(changes).join(",") });
      return agent;
    },
    async rotateKey(id, caller) {
      const current = await mustGet(id);
      const apiKey = newAgentKey(current.id);
      const agent = await live(current.id, await deps.agents.setKeyDigest(current.id, await keyDigest(apiKey)));
      deps.cache.invalidate(current.id);
      audit("agent.key_rotated", agent, caller);
      return apiKey;
    },
    async disable(id, caller, expectedVersion) {
      const current = await mustGet(id);
      assertVersion(current, expectedVersion);
      const agent = (await deps.agents.disable(current.id))!;
      deps.cache.invalidate(current.id);
      audit("agent.disabled", agent, caller);
      return agent;
    },
  };
}

/** A reviewed plan must not be applied over a change made after it was read. */
function assertVersion(agent: Agent, expectedVersion: bigint | undefined): void {
  if (expectedVersion !== undefined && expectedVersion !== agent.version) {
    throw new NexusError("concurrent_change", `agent "${agent.name}" changed since it was read; read it again and retry`);
  }
}

/** parseJwks, then each key imported, so a key jose cannot use is refused now rather than at the agent's first call. */
async function checkedJwks(value: JsonObject | null | undefined): Promise<JsonObject | null> {
  const jwks = parseJwks(value);
  if (jwks === null) return null;
  const keys = jwks.keys as JWK[];
  for (const [i, key] of keys.entries()) {
    try {
      await importJWK(key, key.alg ?? defaultAlg(key));
    } catch {
      throw invalidArgument(`agent.jwks.keys[${i}]`, "is not a usable public key (check kty, crv, n/e or x/y)");
    }
  }
  return jwks;
}

function defaultAlg(key: JWK): string {
  if (key.kty === "RSA") return "RS256";
  if (key.kty === "OKP") return "EdDSA";
  return key.crv === "P-384" ? "ES384" : key.crv === "P-521" ? "ES512" : "ES256";
}
