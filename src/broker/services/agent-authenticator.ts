import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, type JSONWebKeySet, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from "jose";
import { NexusError } from "../../shared/errors.ts";
import { type Agent, agentIdOfKey, agentKeyPrefix, keyDigest, sameDigest } from "../domain/agent.ts";
import { assertionAlgorithms } from "../domain/agent-rules.ts";
import type { AgentStore, AssertionLedger } from "../domain/ports.ts";
import type { AgentCache } from "./agent-cache.ts";
import { inputLimits, inputPatterns } from "../../shared/input-rules.ts";

/** Checks an agent's credential: its API key, or an assertion signed with one of its registered keys. */
export interface AgentAuthenticator {
  /**
   * The agent `credential` proves, or a NexusError: `agent_key_invalid`,
   * `agent_disabled`, `assertion_invalid`, `assertion_expired` or
   * `assertion_replayed` (all unauthenticated). `audience` is the Gateway's
   * public URL, which an assertion's `aud` must name.
   */
  authenticate(credential: string, audience: string): Promise<Agent>;
}

/** What the authenticator uses. */
export interface AgentAuthenticatorDeps {
  readonly agents: Pick<AgentStore, "get">;
  readonly ledger: AssertionLedger;
  readonly cache: AgentCache;
  readonly now: () => number;
}

/** Longest an assertion may be valid for, and the clock skew tolerated either way. */
const maxLifetimeSeconds = 300;
const skewSeconds = 30;

/**
 * Authenticates agents. An API key names its agent, so the check is one
 * lookup (in memory when cached) and a constant-time digest comparison. An
 * assertion (RFC 7523 shape) must be signed with an asymmetric algorithm by a
 * key of the agent's registered JWKS named by `kid`, have iss = sub = the
 * agent id, aud = the Gateway's public URL, exp at most 5 minutes ahead, no
 * iat in the future, and a jti never seen before by any Gateway (recorded in
 * the database until it expires). A disabled agent fails either way; the
 * wrong key of a disabled agent fails as a wrong key, telling nothing.
 */
export function createAgentAuthenticator(deps: AgentAuthenticatorDeps): AgentAuthenticator {
  // One key set per agent record: a changed agent is a new record, so stale keys go with the old one.
  const keySets = new WeakMap<Agent, JWTVerifyGetKey>();

  async function load(id: string): Promise<Agent | undefined> {
    const hit = deps.cache.get(id);
    if (hit !== undefined) return hit;
    const ticket = deps.cache.ticket();
    const agent = await deps.agents.get(id);
    if (agent !== undefined) deps.cache.set(ticket, agent);
    return agent;
  }

  async function byKey(key: string): Promise<Agent> {
    const id = agentIdOfKey(key);
    const agent = id === undefined ? undefined : await load(id);
    const digest = await keyDigest(key);
    if (agent?.keyDigest == null || !sameDigest(digest, agent.keyDigest)) throw invalidKey();
    if (agent.disabledAt !== null) throw disabled();
    return agent;
  }

  async function byAssertion(jwt: string, audience: string): Promise<Agent> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: JWTPayload;
    try {
      header = decodeProtectedHeader(jwt);
      claims = decodeJwt(jwt);
    } catch {
      throw invalidAssertion("is not a JWT");
    }
    if (!(assertionAlgorithms as readonly unknown[]).includes(header.alg)) {
      throw invalidAssertion(`alg ${JSON.stringify(header.alg)} is not accepted; sign with ${assertionAlgorithms.join(", ")}`);
    }
    if (typeof claims.iss !== "string" || !inputPatterns.uuid.test(claims.iss)) throw invalidAssertion("iss must be the agent id");
    const agent = await load(claims.iss);
    if (agent === undefined) throw invalidAssertion("iss names no registered agent");
    if (agent.disabledAt !== null) throw disabled();
    const keys = (agent.jwks as { keys?: { kid?: string }[] } | null)?.keys ?? [];
    if (typeof header.kid !== "string" || !keys.some((k) => k.kid === header.kid)) throw invalidAssertion("kid names none of the agent's registered keys");
    if (audience === "") throw invalidAssertion("no audience to check it against");
    let keySet = keySets.get(agent);
    if (keySet === undefined) {
      keySet = createLocalJWKSet(agent.jwks as unknown as JSONWebKeySet);
      keySets.set(agent, keySet);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(jwt, keySet, {
        issuer: agent.id, subject: agent.id, audience, algorithms: [...assertionAlgorithms],
        clockTolerance: skewSeconds, requiredClaims: ["exp", "jti"], currentDate: new Date(deps.now()),
      }));
    } catch (error) {
      throw error instanceof errors.JWTExpired ? expired() : invalidAssertion(describe(error));
    }
    const now = deps.now() / 1000;
    if (payload.exp! - now > maxLifetimeSeconds + skewSeconds) throw invalidAssertion("exp is more than 5 minutes ahead");
    if (payload.iat !== undefined && payload.iat > now + skewSeconds) throw invalidAssertion("iat is in the future");
    const jti = payload.jti!;
    if (jti === "" || jti.length > inputLimits.assertionJtiLength) throw invalidAssertion(`jti must be 1 to ${inputLimits.assertionJtiLength} characters`);
    if (!(await deps.ledger.remember(agent.id, jti, new Date(payload.exp! * 1000)))) {
      throw new NexusError("assertion_replayed", "this assertion was used before; sign a new one (with a new jti) for every call");
    }
    return agent;
  }

  return {
    authenticate(credential, audience) {
      if (credential.startsWith(agentKeyPrefix)) return byKey(credential);
      // An empty signature (alg none) is a JWS too, refused for its alg rather than as a bad key.
      if (inputPatterns.compactJws.test(credential)) return byAssertion(credential, audience);
      return byKey(credential);
    },
  };
}

/** What jose found wrong, in words that name no key material. */
function describe(error: unknown): string {
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim} is wrong (${error.reason})`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return "the signature does not verify";
  if (error instanceof errors.JOSEAlgNotAllowed) return "its alg is not accepted";
  if (error instanceof errors.JWKSNoMatchingKey) return "no registered key matches its kid and alg";
  return "it is not a valid signed JWT";
}

function invalidKey(): NexusError {
  return new NexusError("agent_key_invalid", "invalid agent credential: not a current API key of a registered agent");
}

function invalidAssertion(why: string): NexusError {
  return new NexusError("assertion_invalid", `invalid agent assertion: ${why}`);
}

function expired(): NexusError {
  return new NexusError("assertion_expired", "the agent assertion has expired; sign a new one");
}

function disabled(): NexusError {
  return new NexusError("agent_disabled", "this agent is disabled");
}
