import { createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { NexusError } from "../../shared/errors.ts";
import { kCaller } from "../../shared/request-context.ts";
import type { Principal } from "../domain/principal.ts";
import type { AgentAuthenticator } from "../services/agent-authenticator.ts";

/** The registered agent a call was authenticated as, set by {@linkcode createAgentAuth}. */
const kAgent = createContextKey<Principal | undefined>(undefined, { description: "registered agent" });

const onBehalfPattern = /^[a-z]{1,16}:[0-9a-f]{8}$/;

/** The header the Gateway forwards an agent's own credential (API key or assertion) in. */
export const agentCredentialHeader = "x-nexus-agent-credential";
/** The header naming the audience an agent's assertion must carry (the Gateway's public URL). */
export const agentAudienceHeader = "x-nexus-audience";

/**
 * An interceptor, after the Broker key check, that authenticates the agent a
 * Gateway acts for: its credential travels in `x-nexus-agent-credential`.
 * It is read only on calls that carry a valid Broker key (the Gateway's), so
 * an anonymous caller of a public procedure cannot use the Broker to test
 * agent credentials.
 */
export function createAgentAuth(authenticator: AgentAuthenticator): Interceptor {
  return (next) => async (request) => {
    const credential = request.header.get(agentCredentialHeader);
    if (credential !== null && request.contextValues.get(kCaller) !== "") {
      const agent = await authenticator.authenticate(credential.trim(), request.header.get(agentAudienceHeader) ?? "");
      request.contextValues.set(kAgent, {
        kind: "agent", label: `agent:${agent.id}`, agentId: agent.id, allowedProviders: agent.allowedProviders,
      });
    }
    return next(request);
  };
}

/**
 * Who is calling: a registered agent the Gateway vouched for and the Broker
 * authenticated; an unscoped agent key (AGENT_API_KEYS) the Gateway names in
 * `x-nexus-caller` (trusted only because the call carries a valid Broker
 * key); otherwise the operator holding the Broker key.
 */
export function principalOf(ctx: HandlerContext): Principal {
  const agent = ctx.values.get(kAgent);
  if (agent !== undefined) return agent;
  const key = ctx.values.get(kCaller);
  if (key === "") throw new NexusError("unauthenticated", "this call needs the Broker's API key");
  const onBehalf = ctx.requestHeader.get("x-nexus-caller");
  if (onBehalf !== null && onBehalfPattern.test(onBehalf)) return { kind: "unscoped_agent", label: `${onBehalf} via ${key}` };
  return { kind: "operator", label: key };
}

/** Who is calling, as the audit log names it (`anonymous` for public calls). */
export function callerOf(ctx: HandlerContext): string {
  const agent = ctx.values.get(kAgent);
  if (agent !== undefined) return agent.label;
  const key = ctx.values.get(kCaller);
  const onBehalf = ctx.requestHeader.get("x-nexus-caller");
  if (key !== "" && onBehalf !== null && onBehalfPattern.test(onBehalf)) return `${onBehalf} via ${key}`;
  return key === "" ? "anonymous" : key;
}
