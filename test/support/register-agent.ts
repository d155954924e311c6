/**
 * Registers agents on a test stack's Broker through its admin REST API, the
 * way an operator does (POST /agents), and makes key pairs for agents that
 * sign assertions.
 */
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { brokerRest } from "./broker-api.ts";
import type { TestStack } from "./stack.ts";

/** A registered agent: its id and the API key shown once at registration. */
export interface RegisteredAgent {
  readonly id: string;
  readonly apiKey: string;
}

/** Registers `agent` (`name` required; `allowed_providers`, `jwks`, `description` optional); fails loudly when refused. */
export async function registerAgent(stack: Pick<TestStack, "broker" | "adminKey">, agent: Record<string, unknown>): Promise<RegisteredAgent> {
  const r = await brokerRest(stack as TestStack, "POST", "/agents", { agent });
  if (r.status !== 201) throw new Error(`agent registration failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: (r.body.agent as { id: string }).id, apiKey: r.body.api_key as string };
}

/** A signing key pair as JWKs: the private half for the agent, the public half for its registered `jwks`. */
export async function agentKeyPair(alg = "ES256", kid = `k-${alg.toLowerCase()}`): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" },
  };
}
