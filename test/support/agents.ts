/**
 * Registered agents for tests: registering them through the Broker's admin
 * API, key pairs for their JWKS, and signed assertions (RFC 7523 shape) with
 * every claim under the test's control, so a test can make a bad one.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { brokerRestAt } from "./broker-api.ts";

/** A registered agent as its operator knows it: its id and the key shown once. */
export interface RegisteredAgent {
  readonly id: string;
  readonly name: string;
  readonly apiKey: string;
}

/** What to register; the name is required, the rest optional. */
export interface AgentSpec {
  readonly name: string;
  readonly description?: string;
  readonly allowed_providers?: readonly string[];
  readonly jwks?: { keys: JWK[] };
}

/** Registers an agent with POST /agents on the Broker at `brokerUrl`; fails loudly unless it answers 201. */
export async function registerAgent(brokerUrl: string, adminKey: string, spec: AgentSpec): Promise<RegisteredAgent> {
  const r = await brokerRestAt(brokerUrl, adminKey, "POST", "/agents", { agent: spec });
  assert.equal(r.status, 201, `registering agent ${spec.name}: ${r.status} ${JSON.stringify(r.body)}`);
  const agent = r.body.agent as { id: string; name: string };
  return { id: agent.id, name: agent.name, apiKey: r.body.api_key as string };
}

/** The JWS algorithms tests sign with: one per key type. */
export type TestAlg = "ES256" | "EdDSA" | "RS256" | "PS256";

/** A key pair whose public half goes into an agent's JWKS. */
export interface AgentKeyPair {
  readonly alg: TestAlg;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The public JWK with kid, alg and use, as registered. */
  readonly publicJwk: JWK;
  /** The private JWK, for tests that check a private key is refused. */
  readonly privateJwk: JWK;
}

/** Generates a key pair for `alg`, named `kid`. */
export async function agentKeyPair(alg: TestAlg, kid: string): Promise<AgentKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}) });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: "sig" };
  return { alg, kid, privateKey, publicKey, publicJwk, privateJwk };
}

/** Claims and header of an assertion; each defaults to what a well-behaved agent sends. */
export interface AssertionSpec {
  /** The agent's id: iss and sub unless given. */
  readonly agentId: string;
  readonly audience: string;
  readonly iss?: string;
  readonly sub?: string;
  /** Seconds from now; default 60. */
  readonly expiresIn?: number;
  /** Seconds from now of iat; default 0. Null leaves iat out. */
  readonly issuedAt?: number | null;
  /** Default a fresh UUID. Null leaves jti out. */
  readonly jti?: string | null;
  /** Default the key's kid. */
  readonly kid?: string;
  /** The clock in seconds; default the wall clock. */
  readonly now?: number;
}

/** Signs an assertion with `key`. */
export function signAssertion(key: Pick<AgentKeyPair, "alg" | "kid" | "privateKey">, spec: AssertionSpec): Promise<string> {
  return new SignJWT(assertionClaims(spec)).setProtectedHeader({ alg: key.alg, kid: spec.kid ?? key.kid, typ: "JWT" }).sign(key.privateKey);
}

/** The claims {@linkcode signAssertion} signs, for tests that build the JWT by hand. */
export function assertionClaims(spec: AssertionSpec): JWTPayload {
  const now = spec.now ?? Math.floor(Date.now() / 1000);
  return {
    iss: spec.iss ?? spec.agentId,
    sub: spec.sub ?? spec.agentId,
    aud: spec.audience,
    exp: now + (spec.expiresIn ?? 60),
    ...(spec.issuedAt === null ? {} : { iat: now + (spec.issuedAt ?? 0) }),
    ...(spec.jti === null ? {} : { jti: spec.jti ?? randomUUID() }),
  };
}

/** base64url of a JSON value, for hand-made JWTs. */
export function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** Resolves to the error `p` fails with; fails the test when `p` succeeds. */
export async function rejection<E = Error>(p: Promise<unknown>): Promise<E> {
  try {
    await p;
  } catch (error) {
    return error as E;
  }
  assert.fail("expected the call to fail");
}
