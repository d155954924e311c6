import { createContextKey, type Interceptor, type UnaryRequest } from "@connectrpc/connect";
import type { ExchangeTokenRequest } from "../../gen/nexus/common/v1/session_pb.ts";
import { NexusError } from "../shared/errors.ts";
import { inputLimits, inputPatterns } from "../shared/input-rules.ts";
import { createApiKeyVerifier, presentedKey } from "../shared/server/api-key-auth.ts";
import { kCaller } from "../shared/request-context.ts";

/** A registered agent's own credential (API key or signed assertion), forwarded to the Broker, which checks it. */
export const kAgentCredential = createContextKey<string>("", { description: "agent credential" });

/** Longest credential the Gateway forwards: an assertion signed with a 4096-bit RSA key fits easily. */
const maxCredentialLength = inputLimits.agentCredentialLength;
// An unsigned JWT (alg none) goes on to be refused as an assertion, for what it is.
const isCredentialShaped = (presented: string) => /^nxa_[0-9A-Za-z]+$/.test(presented) || inputPatterns.compactJws.test(presented);

/**
 * The Gateway's authentication of agents, on every procedure that is not
 * public. A key from AGENT_API_KEYS is checked here (by digest, in constant
 * time) and is unscoped: the Broker learns its fingerprint in
 * `x-nexus-caller`. Anything shaped like a registered agent's credential (an
 * `nxa_` key or a JWT) is forwarded for the Broker to check against the agent
 * registry; the Gateway holds no database, so disabling or rotating an agent
 * needs nothing from it. Anything else is refused here.
 */
export async function createAgentAuth(options: { unscopedKeys: readonly string[]; publicProcedures: readonly string[] }): Promise<Interceptor> {
  const unscoped = await createApiKeyVerifier({ keys: options.unscopedKeys, role: "agent" });
  const exact = new Set(options.publicProcedures.filter((p) => !p.endsWith("/")));
  const prefixes = options.publicProcedures.filter((p) => p.endsWith("/"));
  const isPublic = (path: string) => exact.has(path) || prefixes.some((p) => path.startsWith(p));

  return (next) => async (request) => {
    if (isPublic(`/${request.service.typeName}/${request.method.name}`)) return next(request);
    const presented = presentedKey(request.header) ?? (request.method.name === "ExchangeToken" ? tokenEndpointCredential(request as UnaryRequest) : undefined);
    if (presented === undefined) {
      throw new NexusError("unauthenticated", "missing agent credential: send Authorization: Bearer <API key or signed assertion> or X-API-Key: <API key>");
    }
    const identity = options.unscopedKeys.length > 0 ? await unscoped.verify(presented) : undefined;
    if (identity !== undefined) {
      request.contextValues.set(kCaller, identity);
    } else if (presented.length <= maxCredentialLength && isCredentialShaped(presented)) {
      request.contextValues.set(kAgentCredential, presented);
    } else {
      throw new NexusError("agent_key_invalid", "invalid agent credential: not a current API key of a registered agent");
    }
    return next(request);
  };
}

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/**
 * How an OAuth library authenticates at a token endpoint, for token exchange:
 * `client_secret_basic` (client id and the agent's API key) or
 * `private_key_jwt` (an agent assertion in `client_assertion`, RFC 7523), so
 * a library that speaks RFC 8693 calls the endpoint unchanged.
 */
function tokenEndpointCredential(request: UnaryRequest): string | undefined {
  const basic = basicCredentials(request.header.get("authorization"));
  if (basic !== undefined) return basic.secret === "" ? undefined : basic.secret;
  const exchange = (request.message as ExchangeTokenRequest | undefined)?.exchange;
  if (exchange !== undefined && exchange.clientAssertionType === jwtBearer && exchange.clientAssertion !== "") return exchange.clientAssertion;
  return undefined;
}

/**
 * The client id and secret of `client_secret_basic` (RFC 6749 section 2.3.1:
 * each form-urlencoded, then joined by a colon and base64-encoded); undefined
 * when the header is not Basic or does not decode.
 */
export function basicCredentials(authorization: string | null): { clientId: string; secret: string } | undefined {
  const basic = /^basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization?.trim() ?? "");
  if (basic === null) return undefined;
  try {
    const decoded = atob(basic[1]!);
    const colon = decoded.indexOf(":");
    const formDecode = (v: string) => decodeURIComponent(v.replaceAll("+", " "));
    return colon < 0 ? { clientId: formDecode(decoded), secret: "" } : { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}
