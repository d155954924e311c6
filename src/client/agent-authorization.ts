import type { Interceptor } from "@connectrpc/connect";
import type { JWK } from "jose";
import { type AssertionSigner, createAssertionSigner } from "./assertion-signer.ts";
import { NexusClientError } from "./nexus-client-error.ts";
import { isSignedJws } from "../shared/input-rules.ts";

/**
 * A registered agent that proves itself with a key pair: its id and either
 * the private JWK of a key registered in its `jwks`, or a function that
 * returns a fresh signed assertion (for keys held in a KMS, an HSM or another
 * process).
 */
export interface AgentIdentity {
  /** The agent's id, as the Broker gave it (POST /agents). */
  readonly id: string;
  /** The private half of a registered key, with its `kid` and `alg`; the client signs one assertion per call. */
  readonly privateJwk?: JWK;
  /** Returns a new assertion (a new `jti`) on every call; see {@linkcode createAssertionSigner}. */
  readonly signer?: AssertionSigner;
}

/** How the client authenticates to the Gateway: what {@linkcode agentAuthorization} needs. */
export interface AgentAuthorizationOptions {
  readonly baseUrl: string;
  readonly apiKey?: string | undefined;
  readonly agent?: AgentIdentity | undefined;
  /** `aud` of the assertions the client signs: the Gateway's GATEWAY_PUBLIC_URL. @default the origin of baseUrl */
  readonly audience?: string | undefined;
  readonly now: () => number;
}

/**
 * The interceptor that puts the agent's credential in `Authorization: Bearer`
 * on every Gateway call: the API key as it is, or a NEW assertion for every
 * request (each attempt of a retry, each poll of waitForActive), because the
 * Gateway accepts an assertion's `jti` once. A signer that fails, or returns
 * something that is not a JWT, fails the call with `assertion_signing_failed`
 * before anything is sent.
 */
export function agentAuthorization(options: AgentAuthorizationOptions): Interceptor {
  const hasKey = options.apiKey !== undefined;
  const hasAgent = options.agent !== undefined;
  if (hasKey === hasAgent) throw invalid("give apiKey (an agent's API key) or agent ({ id, privateJwk } or { id, signer }), not both");
  if (hasKey) {
    if (typeof options.apiKey !== "string" || options.apiKey.trim() === "") throw invalid("apiKey is required: an agent's API key (nxa_...) from POST /agents");
    const authorization = `Bearer ${options.apiKey.trim()}`;
    return (next) => (req) => {
      req.header.set("authorization", authorization);
      return next(req);
    };
  }
  const sign = signerOf(options.agent!, options);
  return (next) => async (req) => {
    let assertion: unknown;
    try {
      assertion = await sign();
    } catch (error) {
      if (error instanceof NexusClientError) throw error;
      throw signingFailed(`the signer threw (${error instanceof Error ? error.message : "unknown error"})`, error);
    }
    if (typeof assertion !== "string" || !isSignedJws(assertion)) throw signingFailed("the signer returned something that is not a compact JWT");
    req.header.set("authorization", `Bearer ${assertion}`);
    return next(req);
  };
}

function signerOf(agent: AgentIdentity, options: AgentAuthorizationOptions): AssertionSigner {
  if (agent === null || typeof agent !== "object") throw invalid("agent must be { id, privateJwk } or { id, signer }");
  if (typeof agent.id !== "string" || agent.id.trim() === "") throw invalid("agent.id is required: the id the Broker gave the agent (POST /agents)");
  if ((agent.privateJwk === undefined) === (agent.signer === undefined)) throw invalid("agent needs privateJwk or signer, not both");
  if (agent.signer !== undefined) {
    if (typeof agent.signer !== "function") throw invalid("agent.signer must be a function returning a fresh assertion");
    return agent.signer;
  }
  const audience = options.audience ?? new URL(options.baseUrl).origin;
  return createAssertionSigner({ agentId: agent.id, privateJwk: agent.privateJwk!, audience, now: options.now });
}

function invalid(message: string): NexusClientError {
  return new NexusClientError(`invalid_argument: ${message}`, { code: "invalid_argument", reason: "invalid_argument" });
}

function signingFailed(message: string, cause?: unknown): NexusClientError {
  return new NexusClientError(`assertion_signing_failed: ${message}`, { code: "internal", reason: "assertion_signing_failed", ...(cause === undefined ? {} : { cause }) });
}
