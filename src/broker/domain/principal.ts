/**
 * Who makes a call, as the Broker knows it, and the access rule between
 * agents and connections. Pure, no I/O.
 */
import { NexusError } from "../../shared/errors.ts";

/**
 * The caller of a Broker RPC.
 *
 * - `operator`: a Broker API key with no agent named (operators, the `nexus`
 *   command, tools): every connection.
 * - `unscoped_agent`: a key from the Gateway's AGENT_API_KEYS, named by the
 *   Gateway in `x-nexus-caller`: every connection, as before agents existed.
 * - `agent`: a registered agent the Broker authenticated: only the
 *   connections it started, and only the providers it is allowed.
 * - `session`: an agent acting through a session (a token exchange): only the
 *   session's connection, within its clearance (checked by the exchange).
 */
export type Principal =
  | { readonly kind: "operator"; readonly label: string }
  | { readonly kind: "unscoped_agent"; readonly label: string }
  | { readonly kind: "agent"; readonly label: string; readonly agentId: string; readonly allowedProviders: readonly string[] }
  | { readonly kind: "session"; readonly label: string; readonly agentId: string; readonly sessionId: string; readonly connectionId: string };

/** The caller an audit event names: its label, and the agent id of a registered agent. */
export function auditCaller(principal: Principal): { caller: string; agentId?: string } {
  return principal.kind === "agent" || principal.kind === "session" ? { caller: principal.label, agentId: principal.agentId } : { caller: principal.label };
}

/** The agent whose connections a principal is limited to; undefined when it may use every connection. */
export function agentScope(principal: Principal): string | undefined {
  return principal.kind === "agent" || principal.kind === "session" ? principal.agentId : undefined;
}

/**
 * Refuses a registered agent the use (check, read, refresh, resolve) of a
 * connection another caller started, with `agent_not_authorized`. The message
 * says no more than that: it neither confirms nor denies whose it is.
 */
export function assertMayUse(principal: Principal, connection: { readonly id: string; readonly agentId: string | null }): void {
  if (principal.kind === "session" && connection.id === principal.connectionId) return;
  if ((principal.kind !== "agent" && principal.kind !== "session") || connection.agentId === principal.agentId) return;
  throw new NexusError("agent_not_authorized", `this agent may not use connection ${connection.id}; only the agent that started it may`);
}

/** Refuses a registered agent a provider outside its `allowed_providers` (empty allows all). */
export function assertMayConnect(principal: Principal, provider: { readonly name: string; readonly aliases: readonly string[] }): void {
  if (principal.kind !== "agent" || principal.allowedProviders.length === 0) return;
  if (principal.allowedProviders.includes(provider.name) || provider.aliases.some((a) => principal.allowedProviders.includes(a))) return;
  throw new NexusError("provider_not_allowed", `this agent may not connect to provider "${provider.name}" (see its allowed_providers)`);
}
