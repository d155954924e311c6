/**
 * No agent credential leaks: every API key, every assertion and every key
 * digest made during a busy scenario (admin changes, good and bad calls on
 * REST, Connect and gRPC, replays, disabled agents) is looked for in the logs
 * of both services at LOG_LEVEL=debug, in every error the callers saw, in
 * both services' /metrics, and in the audit rows. /metrics must not name an
 * agent either.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { exportSPKI, SignJWT } from "jose";
import { keyDigest } from "../../src/broker/domain/agent.ts";
import { brokerRest, registerProvider } from "../support/broker-api.ts";
import { type AgentKeyPair, agentKeyPair, assertionClaims, b64json, registerAgent, type RegisteredAgent, signAssertion } from "../support/agents.ts";
import { connectJsonClient, type GatewayCallError, type GatewayTestClient, grpcClient, restClient } from "../support/gateway-clients.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const audience = "https://gateway.nexus.test";

describe("agent credentials never leak into logs, errors, metrics or audit rows", () => {
  let stack: TestStack;
  /** Every API key made or presented. */
  const keys = new Set<string>();
  /** Every assertion made or presented. */
  const assertions = new Set<string>();
  /** Every error text a caller saw (messages and raw bodies). */
  const errors: string[] = [];
  const agentIds = new Set<string>();
  const counts = { ok: 0, refused: 0 };

  const protocols: [string, (url: string, credential?: string) => GatewayTestClient & { close?(): void }][] = [
    ["REST", restClient], ["Connect JSON", connectJsonClient], ["gRPC", grpcClient],
  ];

  /** Runs `call` with `credential` on every protocol; successes and refusals both count, anything else fails. */
  async function everywhere(credential: string | (() => Promise<string>), call: (c: GatewayTestClient) => Promise<unknown>): Promise<void> {
    for (const [, make] of protocols) {
      const presented = typeof credential === "string" ? credential : await credential();
      (presented.startsWith("nxa_") ? keys : assertions).add(presented);
      const client = make(stack.gateway.url, presented);
      try {
        await call(client);
        counts.ok++;
      } catch (error) {
        const e = error as GatewayCallError;
        if (e.reason === undefined) throw error;
        errors.push(e.message, String(e.reason));
        counts.refused++;
      } finally {
        client.close?.();
      }
    }
  }

  before(async () => {
    stack = await startStack({ gatewayEnv: { GATEWAY_PUBLIC_URL: audience } });
    assert.equal(stack.brokerEnv.LOG_LEVEL, "debug");
    assert.equal(stack.gatewayEnv.LOG_LEVEL, "debug");
    await registerProvider(stack, { name: "keyed", auth_type: "api_key" });
    await registerProvider(stack, { name: "other", auth_type: "api_key" });
    const es: AgentKeyPair = await agentKeyPair("ES256", "leak-es");
    const rs: AgentKeyPair = await agentKeyPair("RS256", "leak-rs");
    const register = async (name: string, extra: object = {}): Promise<RegisteredAgent> => {
      const agent = await registerAgent(stack.broker.url, stack.adminKey, { name, ...extra });
      keys.add(agent.apiKey);
      agentIds.add(agent.id);
      return agent;
    };
    const a = await register("leak-a", { allowed_providers: ["keyed"], jwks: { keys: [es.publicJwk, rs.publicJwk] } });
    const b = await register("leak-b");
    const d = await register("leak-disabled", { jwks: { keys: [es.publicJwk] } });
    const sign = (spec: Partial<Parameters<typeof signAssertion>[1]> = {}, key = es) => () => signAssertion(key, { agentId: a.id, audience, ...spec });

    // Connections of A (by key) and B (by assertion-free key), captured anonymously.
    const started = await restClient(stack.gateway.url, a.apiKey).requestConnection({ user_id: "ws-leak", provider_name: "keyed", return_url: "https://app.example.com/back" });
    await restClient(stack.gateway.url).captureCredential(String(started.state), { api_key: "provider-key-of-a-0123456789" });
    const aConnection = String(started.connection_id);

    // Good calls: keys, assertions of both algorithms, the unscoped key.
    await everywhere(a.apiKey, (c) => c.resolve("ws-leak", "keyed"));
    await everywhere(sign(), (c) => c.getToken(aConnection));
    await everywhere(sign({}, rs), (c) => c.checkConnection(aConnection));
    await everywhere(stack.agentKey, (c) => c.getToken(aConnection));
    // Refused calls: another agent, a disallowed provider, bad keys and bad assertions.
    await everywhere(b.apiKey, (c) => c.getToken(aConnection));
    await everywhere(a.apiKey, (c) => c.requestConnection({ user_id: "ws-leak", provider_name: "other", return_url: "https://app.example.com/back" }));
    await everywhere(`${a.apiKey.slice(0, -1)}${a.apiKey.endsWith("A") ? "B" : "A"}`, (c) => c.resolve("ws-leak", "keyed"));
    await everywhere(`${a.apiKey}x`, (c) => c.resolve("ws-leak", "keyed"));
    await everywhere(sign({ expiresIn: -120, issuedAt: -180 }), (c) => c.resolve("ws-leak", "keyed"));
    await everywhere(sign({ audience: "https://elsewhere.example" }), (c) => c.resolve("ws-leak", "keyed"));
    await everywhere(sign({ expiresIn: 400 }), (c) => c.resolve("ws-leak", "keyed"));
    await everywhere(sign({ kid: "unknown" }), (c) => c.resolve("ws-leak", "keyed"));
    await everywhere(async () => `${b64json({ alg: "none", typ: "JWT" })}.${b64json(assertionClaims({ agentId: a.id, audience }))}.`, (c) => c.resolve("ws-leak", "keyed"));
    await everywhere(async () => new SignJWT(assertionClaims({ agentId: a.id, audience })).setProtectedHeader({ alg: "HS256", kid: rs.kid })
      .sign(new TextEncoder().encode(await exportSPKI(rs.publicKey))), (c) => c.resolve("ws-leak", "keyed"));
    const replayed = await sign()();
    await everywhere(replayed, (c) => c.resolve("ws-leak", "keyed"));

    // Admin changes: rotate (the old key is then refused), update, disable (its key and assertions refused).
    const oldKey = a.apiKey;
    const rotated = await brokerRest(stack, "POST", `/agents/${a.id}/rotate-key`);
    keys.add(rotated.body.api_key as string);
    await everywhere(oldKey, (c) => c.resolve("ws-leak", "keyed"));
    await everywhere(rotated.body.api_key as string, (c) => c.resolve("ws-leak", "keyed"));
    await brokerRest(stack, "PATCH", `/agents/${a.id}`, { agent: { description: "patched", jwks: { keys: [rs.publicJwk] } } });
    assert.equal((await brokerRest(stack, "DELETE", `/agents/${d.id}`)).status, 200);
    await everywhere(d.apiKey, (c) => c.resolve("ws-leak", "keyed"));
    await everywhere(() => signAssertion(es, { agentId: d.id, audience }), (c) => c.resolve("ws-leak", "keyed"));
    // A raw REST refusal, body and headers, as curl would show it.
    const raw = await fetch(`${stack.gateway.url}/v1/resolve?workspace_id=ws-leak&provider_name=keyed`, { headers: { authorization: `Bearer ${oldKey}` } });
    errors.push(await raw.text(), [...raw.headers].join("\n"));
    // Admin reads: what an operator sees.
    errors.push(JSON.stringify((await brokerRest(stack, "GET", "/agents")).body), JSON.stringify((await brokerRest(stack, "GET", `/agents/${a.id}`)).body));
    errors.push(JSON.stringify((await brokerRest(stack, "GET", "/audit?limit=1000")).body));
  });
  after(() => stack.close());

  /** What must appear nowhere, each with a name that says what it is (never the value itself). */
  async function needles(): Promise<[string, string][]> {
    const out: [string, string][] = [];
    for (const key of keys) {
      const digest = await keyDigest(key);
      out.push(
        [`API key ${key.slice(0, 12)}…`, key],
        [`the secret part of API key ${key.slice(0, 12)}…`, key.slice(36, 79)],
        [`the digest of API key ${key.slice(0, 12)}…`, digest],
        [`the first 16 hex digits of the digest of API key ${key.slice(0, 12)}…`, digest.slice(0, 16)],
      );
    }
    for (const jwt of assertions) {
      const [header, payload, signature] = jwt.split(".");
      out.push([`assertion ${header!.slice(0, 8)}…`, jwt], [`the payload of assertion ${header!.slice(0, 8)}…`, `${payload}.${signature}`]);
      if (signature !== "") out.push([`the signature of assertion ${header!.slice(0, 8)}…`, signature!]);
    }
    for (const key of [stack.agentKey, stack.adminKey]) out.push([`configured key ${key.slice(0, 6)}…`, key], [`the digest of configured key ${key.slice(0, 6)}…`, await keyDigest(key)]);
    return out;
  }

  /** Every place a secret could end up. */
  async function haystacks(): Promise<[string, string][]> {
    const rows = async (query: PromiseLike<readonly unknown[]>) => JSON.stringify(await query, (_k, v) => (typeof v === "bigint" ? String(v) : v));
    return [
      ["logs", stack.logs.join("\n")],
      ["error answers", errors.join("\n")],
      ["Broker /metrics", await (await fetch(`${stack.broker.url}/metrics`)).text()],
      ["Gateway /metrics", await (await fetch(`${stack.gateway.url}/metrics`)).text()],
      ["audit rows", await rows(stack.db.sql`select * from audit_events`)],
      ["connection rows", await rows(stack.db.sql`select * from connections`)],
    ];
  }

  it("made a busy scenario: good and refused calls on every protocol, with keys and assertions", () => {
    assert.ok(counts.ok >= 12, `${counts.ok} calls succeeded`);
    assert.ok(counts.refused >= 40, `${counts.refused} calls were refused`);
    assert.ok(keys.size >= 6 && assertions.size >= 15, `${keys.size} keys, ${assertions.size} assertions`);
    assert.ok(stack.logs.some((l) => l.includes('"level":"debug"')), "debug lines were written");
  });

  it("finds no key, assertion or digest in logs, errors, /metrics or audit rows", async () => {
    const found: string[] = [];
    const places = await haystacks();
    for (const [what, needle] of await needles()) {
      for (const [where, text] of places) if (text.includes(needle)) found.push(`${what} in ${where}`);
    }
    assert.deepEqual(found, []);
  });

  it("names no agent in either service's /metrics", async () => {
    const places = (await haystacks()).filter(([where]) => where.endsWith("/metrics"));
    const found = [...agentIds].flatMap((id) => places.filter(([, text]) => text.includes(id) || text.includes(id.replaceAll("-", ""))).map(([where]) => `${id} in ${where}`));
    assert.deepEqual(found, []);
  });

  it("looks for the right things in the right places: the digests it scans for are the ones the Broker stores, and the places hold the agents' calls", async () => {
    const computed = new Set(await Promise.all([...keys].map((k) => keyDigest(k))));
    const stored = await stack.db.sql<{ keyDigest: string }[]>`select key_digest from agents`;
    assert.equal(stored.length, 3);
    for (const { keyDigest: d } of stored) assert.ok(computed.has(d), "each stored digest is among those scanned for");
    const places = new Map(await haystacks());
    for (const id of agentIds) assert.ok(places.get("audit rows")!.includes(id), "the audit rows name each agent");
    assert.match(places.get("logs")!, /"service":"broker".*"status":401/, "the Broker's logs hold the refused calls");
    assert.match(places.get("logs")!, /"service":"gateway".*"status":401/, "the Gateway's logs hold the refused calls");
  });
});
