/**
 * How a registered agent proves who it is, through the Gateway: its API key,
 * or a JWT assertion signed by a key of its registered JWKS (RFC 7523 shape).
 * Every bad credential is refused with HTTP 401 (REST) or UNAUTHENTICATED
 * (gRPC) and the reason that tells the agent's developer what to fix; a replay
 * is refused on a second Gateway in front of the same Broker.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { exportSPKI, SignJWT } from "jose";
import { newAgentKey } from "../../src/broker/domain/agent.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import type { RunningService } from "../../src/runtime/node/start-broker.ts";
import { brokerRest, registerProvider } from "../support/broker-api.ts";
import {
  type AgentKeyPair, agentKeyPair, assertionClaims, type AssertionSpec, b64json, registerAgent, type RegisteredAgent, rejection, signAssertion,
} from "../support/agents.ts";
import { type GatewayCallError, type GatewayTestClient, grpcClient, restClient } from "../support/gateway-clients.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const audience = "https://gateway.nexus.test";
const workspace = "ws-assertions";
const secret = "key-of-agent-e-0123456789";

describe("agent credentials at the Gateway: API keys and signed assertions", () => {
  let stack: TestStack;
  let gateway2: RunningService;
  /** E signs with three key types; F is another agent; D is disabled; R's key was rotated. */
  let e: RegisteredAgent, f: RegisteredAgent, d: RegisteredAgent, r: RegisteredAgent;
  let rOldKey: string;
  const keys = {} as Record<"es" | "ed" | "rs" | "fEs" | "dEs", AgentKeyPair>;

  before(async () => {
    stack = await startStack({ gatewayEnv: { GATEWAY_PUBLIC_URL: audience } });
    // A replica: same Broker, same public URL.
    gateway2 = await startGateway({ ...stack.gatewayEnv }, { port: 0, logWrite: (l) => void stack.logs.push(l) });
    await registerProvider(stack, { name: "keyed", auth_type: "api_key" });
    Object.assign(keys, {
      es: await agentKeyPair("ES256", "e-es256"), ed: await agentKeyPair("EdDSA", "e-eddsa"), rs: await agentKeyPair("RS256", "e-rs256"),
      fEs: await agentKeyPair("ES256", "f-es256"), dEs: await agentKeyPair("ES256", "d-es256"),
    });
    e = await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-e", jwks: { keys: [keys.es.publicJwk, keys.ed.publicJwk, keys.rs.publicJwk] } });
    f = await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-f", jwks: { keys: [keys.fEs.publicJwk] } });
    d = await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-d", jwks: { keys: [keys.dEs.publicJwk] } });
    r = await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-r" });
    const started = await restClient(stack.gateway.url, e.apiKey).requestConnection({ user_id: workspace, provider_name: "keyed", return_url: "https://app.example.com/back" });
    await restClient(stack.gateway.url).captureCredential(String(started.state), { api_key: secret });
    // R's own connection in its own workspace, to prove its new key works.
    const rStarted = await restClient(stack.gateway.url, r.apiKey).requestConnection({ user_id: "ws-r", provider_name: "keyed", return_url: "https://app.example.com/back" });
    await restClient(stack.gateway.url).captureCredential(String(rStarted.state), { api_key: "key-of-agent-r-0123456789" });
    assert.equal((await brokerRest(stack, "DELETE", `/agents/${d.id}`)).status, 200);
    rOldKey = r.apiKey;
    const rotated = await brokerRest(stack, "POST", `/agents/${r.id}/rotate-key`);
    assert.equal(rotated.status, 200);
    r = { ...r, apiKey: rotated.body.api_key as string };
  });
  after(async () => {
    await gateway2.close();
    await stack.close();
  });

  /** E's assertion signed with `key`, claims as given. */
  const assertion = (key: AgentKeyPair, spec: Partial<AssertionSpec> = {}) => signAssertion(key, { agentId: e.id, audience, ...spec });

  /** The protocols each refusal is checked on, with how each reports "unauthenticated". */
  const protocols: [string, (url: string, credential: string) => GatewayTestClient & { close?(): void }][] = [["REST", restClient], ["gRPC", grpcClient]];

  /** Resolves E's workspace with `credential` on `protocol` through `gatewayUrl`. */
  async function resolveWith(protocol: (typeof protocols)[number], credential: string, gatewayUrl = stack.gateway.url) {
    const client = protocol[1](gatewayUrl, credential);
    try {
      return await client.resolve(workspace, "keyed");
    } finally {
      client.close?.();
    }
  }

  function assertUnauthenticated(error: GatewayCallError, protocol: string, reason: string, what: string): void {
    assert.equal(error.code, "unauthenticated", `${what} on ${protocol}: ${error.message}`);
    assert.equal(error.reason, reason, `${what} on ${protocol}: ${error.message}`);
    if (protocol === "REST") assert.equal(error.httpStatus, 401, `${what} on REST`);
  }

  describe("accepted", () => {
    for (const kid of ["es", "ed", "rs"] as const) {
      it(`accepts an assertion signed with the agent's ${kid === "es" ? "ES256" : kid === "ed" ? "EdDSA" : "RS256"} key on REST and gRPC`, async () => {
        for (const protocol of protocols) {
          const answer = await resolveWith(protocol, await assertion(keys[kid]));
          assert.equal((answer.credentials as Record<string, string>).api_key, secret, protocol[0]);
        }
      });
    }

    it("accepts the agent's API key as a bearer token and as X-API-Key", async () => {
      for (const protocol of protocols) assert.equal(((await resolveWith(protocol, e.apiKey)).credentials as Record<string, string>).api_key, secret);
      const res = await fetch(`${stack.gateway.url}/v1/resolve?workspace_id=${workspace}&provider_name=keyed`, { headers: { "x-api-key": e.apiKey } });
      assert.equal(res.status, 200);
    });

    it("accepts an assertion that expires exactly 5 minutes from now and one without iat", async () => {
      assert.equal(((await resolveWith(protocols[0], await assertion(keys.es, { expiresIn: 300 }))).credentials as Record<string, string>).api_key, secret);
      assert.equal(((await resolveWith(protocols[0], await assertion(keys.es, { issuedAt: null }))).credentials as Record<string, string>).api_key, secret);
    });

    it("accepts the new key after a rotation", async () => {
      const res = await fetch(`${stack.gateway.url}/v1/resolve?workspace_id=ws-r&provider_name=keyed`, { headers: { authorization: `Bearer ${r.apiKey}` } });
      assert.equal(res.status, 200);
    });
  });

  describe("refused with 401 and a reason", () => {
    /** A bad credential, made fresh for every call, and the reason it is refused with. */
    const cases: [string, () => Promise<string> | string, string][] = [
      ["an expired assertion", () => assertion(keys.es, { issuedAt: -180, expiresIn: -120 }), "assertion_expired"],
      ["an assertion whose iat is in the future", () => assertion(keys.es, { issuedAt: 120, expiresIn: 180 }), "assertion_invalid"],
      ["an assertion whose exp is more than 5 minutes ahead", () => assertion(keys.es, { expiresIn: 400 }), "assertion_invalid"],
      ["an assertion for another audience", () => assertion(keys.es, { audience: "https://other-gateway.example" }), "assertion_invalid"],
      ["an assertion whose iss is another agent", () => assertion(keys.es, { iss: f.id }), "assertion_invalid"],
      ["an assertion whose iss is no agent", () => assertion(keys.es, { iss: randomUUID() }), "assertion_invalid"],
      ["an assertion whose sub is another agent", () => assertion(keys.es, { sub: f.id }), "assertion_invalid"],
      ["an assertion without jti", () => assertion(keys.es, { jti: null }), "assertion_invalid"],
      ["an assertion without exp", async () => {
        const { exp: _exp, ...claims } = assertionClaims({ agentId: e.id, audience });
        return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: keys.es.kid }).sign(keys.es.privateKey);
      }, "assertion_invalid"],
      ["an assertion naming an unknown kid", () => assertion(keys.es, { kid: "no-such-kid" }), "assertion_invalid"],
      ["an assertion signed by another agent's key, naming that key's kid", () => signAssertion(keys.fEs, { agentId: e.id, audience }), "assertion_invalid"],
      ["an assertion naming the agent's kid but signed with another key", () => signAssertion({ ...keys.fEs, kid: keys.es.kid }, { agentId: e.id, audience }), "assertion_invalid"],
      ["alg none with a signature part", () => `${b64json({ alg: "none", kid: keys.es.kid, typ: "JWT" })}.${b64json(assertionClaims({ agentId: e.id, audience }))}.c2ln`, "assertion_invalid"],
      ["HS256 signed with the agent's RSA public key (PEM) as the secret", async () => {
        const pem = await exportSPKI(keys.rs.publicKey);
        return new SignJWT(assertionClaims({ agentId: e.id, audience })).setProtectedHeader({ alg: "HS256", kid: keys.rs.kid }).sign(new TextEncoder().encode(pem));
      }, "assertion_invalid"],
      ["an assertion of a disabled agent", () => signAssertion(keys.dEs, { agentId: d.id, audience }), "agent_disabled"],
      ["the API key of a disabled agent", () => d.apiKey, "agent_disabled"],
      ["a rotated-away API key", () => rOldKey, "agent_key_invalid"],
      ["a key of the right shape whose checksum fails", () => `${e.apiKey.slice(0, -1)}${e.apiKey.endsWith("A") ? "B" : "A"}`, "agent_key_invalid"],
      ["a key of the right shape naming no agent", () => newAgentKey(randomUUID()), "agent_key_invalid"],
      ["an nxa_ string that is not a key", () => "nxa_garbage", "agent_key_invalid"],
      ["a garbage bearer", () => "garbage !! not a credential", "agent_key_invalid"],
    ];
    for (const [what, make, reason] of cases) {
      it(`refuses ${what} (${reason})`, async () => {
        for (const protocol of protocols) {
          const error = await rejection<GatewayCallError>(resolveWith(protocol, await make()));
          assertUnauthenticated(error, protocol[0], reason, what);
        }
      });
    }

    it("refuses alg none without a signature (the unsigned JWT form) as an assertion, saying the alg is not accepted", async () => {
      const unsigned = `${b64json({ alg: "none", typ: "JWT" })}.${b64json(assertionClaims({ agentId: e.id, audience }))}.`;
      for (const protocol of protocols) {
        const error = await rejection<GatewayCallError>(resolveWith(protocol, unsigned));
        assertUnauthenticated(error, protocol[0], "assertion_invalid", "an unsigned JWT");
        assert.match(error.message, /alg "none" is not accepted/, protocol[0]);
      }
    });

    it("says which rule an assertion broke, without echoing it", async () => {
      const cases: [Promise<string>, RegExp][] = [
        [assertion(keys.es, { expiresIn: 400 }), /exp is more than 5 minutes ahead/],
        [assertion(keys.es, { issuedAt: 120, expiresIn: 180 }), /iat is in the future/],
        [assertion(keys.es, { kid: "no-such-kid" }), /kid names none of the agent's registered keys/],
        [assertion(keys.es, { audience: "https://other-gateway.example" }), /claim aud/],
      ];
      for (const [made, message] of cases) {
        const jwt = await made;
        const error = await rejection<GatewayCallError>(resolveWith(protocols[0], jwt));
        assert.match(error.message, message);
        assert.ok(!error.message.includes(jwt.split(".")[2]!), "the message does not echo the assertion");
      }
    });

    it("refuses a missing credential with unauthenticated", async () => {
      const res = await fetch(`${stack.gateway.url}/v1/resolve?workspace_id=${workspace}&provider_name=keyed`);
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { code: string }).code, "unauthenticated");
    });

    it("checks aud against the Gateway's GATEWAY_PUBLIC_URL, never against a header the agent sends", async () => {
      const evil = "https://evil.example";
      const res = await fetch(`${stack.gateway.url}/v1/resolve?workspace_id=${workspace}&provider_name=keyed`, {
        headers: { authorization: `Bearer ${await assertion(keys.es, { audience: evil })}`, "x-nexus-audience": evil },
      });
      assert.equal(res.status, 401);
    });
  });

  describe("replay", () => {
    it("refuses an assertion used once already, on a second Gateway in front of the same Broker, on REST and gRPC", async () => {
      const jwt = await assertion(keys.ed);
      assert.equal(((await resolveWith(protocols[0], jwt)).credentials as Record<string, string>).api_key, secret, "first use, Gateway 1");
      for (const protocol of protocols) {
        assertUnauthenticated(await rejection<GatewayCallError>(resolveWith(protocol, jwt, gateway2.url)), protocol[0], "assertion_replayed", "a replay on Gateway 2");
      }
      assertUnauthenticated(await rejection<GatewayCallError>(resolveWith(protocols[0], jwt)), "REST", "assertion_replayed", "a replay on Gateway 1");
    });

    it("lets one use win when the same assertion reaches both Gateways at once", async () => {
      const jwt = await assertion(keys.es);
      const outcomes = await Promise.allSettled([stack.gateway.url, gateway2.url, stack.gateway.url, gateway2.url].map((url) => resolveWith(protocols[0], jwt, url)));
      assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 1);
      for (const o of outcomes) if (o.status === "rejected") assert.equal((o.reason as GatewayCallError).reason, "assertion_replayed");
    });

    it("accepts a new assertion (new jti) from the same agent on the second Gateway", async () => {
      assert.equal(((await resolveWith(protocols[1], await assertion(keys.rs), gateway2.url)).credentials as Record<string, string>).api_key, secret);
    });
  });
});
