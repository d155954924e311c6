/**
 * The Broker's agent administration over REST (API.md "Agents: identity and
 * access"): create shows the key once, reads never show a key or a digest,
 * PATCH changes the fields present, rotate-key and DELETE act at once, JWKS
 * and names are validated with the field named, and GET /audit?agent_id=
 * returns one agent's events.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { JWK } from "jose";
import { keyDigest } from "../../src/broker/domain/agent.ts";
import { startGateway } from "../../src/runtime/node/start-gateway.ts";
import { brokerRest, type JsonReply, registerProvider } from "../support/broker-api.ts";
import { type AgentKeyPair, agentKeyPair, rejection, signAssertion } from "../support/agents.ts";
import { type GatewayCallError, restClient } from "../support/gateway-clients.ts";
import { grpcJsClient, type GrpcJsError } from "../support/grpc-js.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const audience = "https://gateway.nexus.test";
const keyFormat = /^nxa_[0-9a-f]{32}[0-9A-Za-z]{49}$/;
type Json = Record<string, unknown>;

describe("agent administration on the Broker (REST)", () => {
  let stack: TestStack;
  let es: AgentKeyPair;
  let rs: AgentKeyPair;

  before(async () => {
    stack = await startStack({ gatewayEnv: { GATEWAY_PUBLIC_URL: audience } });
    await registerProvider(stack, { name: "keyed", auth_type: "api_key" });
    await registerProvider(stack, { name: "other", auth_type: "api_key" });
    es = await agentKeyPair("ES256", "admin-es");
    rs = await agentKeyPair("RS256", "admin-rs");
  });
  after(() => stack.close());

  const create = (agent: Json) => brokerRest(stack, "POST", "/agents", { agent });
  const agentOf = (r: JsonReply) => r.body.agent as Json;
  /** The reason and field of an error answer. */
  const errorOf = (r: JsonReply) => {
    // The reason is in ErrorInfo, the field at fault in BadRequest (the one error model).
    type Detail = { type?: string; debug?: { reason?: string; fieldViolations?: { field?: string }[] } };
    const details = (r.body.details as Detail[] | undefined) ?? [];
    const info = details.find((d) => d.type === "google.rpc.ErrorInfo")?.debug;
    const field = details.find((d) => d.type === "google.rpc.BadRequest")?.debug?.fieldViolations?.[0]?.field;
    return { status: r.status, code: r.body.code, reason: info?.reason, field };
  };
  /** Resolves a workspace through the Gateway with `credential`; the error when refused. */
  const resolveWith = (credential: string, workspace: string) => restClient(stack.gateway.url, credential).resolve(workspace, "keyed");
  async function connectionOf(apiKey: string, workspace: string): Promise<void> {
    const started = await restClient(stack.gateway.url, apiKey).requestConnection({ user_id: workspace, provider_name: "keyed", return_url: "https://app.example.com/back" });
    await restClient(stack.gateway.url).captureCredential(String(started.state), { api_key: `key-in-${workspace}-0123456789` });
  }

  describe("create", () => {
    it("answers 201 with the agent and its key, shown once: nxa_, the agent's id, secret and checksum", async () => {
      const r = await create({ name: "created-agent", description: "made by a test", allowed_providers: ["keyed"], jwks: { keys: [es.publicJwk] } });
      assert.equal(r.status, 201);
      const agent = agentOf(r);
      const key = r.body.api_key as string;
      assert.match(key, keyFormat);
      assert.equal(key.slice(4, 36), String(agent.id).replaceAll("-", ""), "the key names its agent");
      assert.equal(r.headers.get("location"), `/agents/${agent.id}`);
      assert.equal(r.headers.get("cache-control"), "no-store");
      assert.deepEqual(
        { name: agent.name, description: agent.description, allowed_providers: agent.allowed_providers, has_api_key: agent.has_api_key, disabled: agent.disabled },
        { name: "created-agent", description: "made by a test", allowed_providers: ["keyed"], has_api_key: true, disabled: false },
      );
      assert.deepEqual(agent.jwks, { keys: [es.publicJwk] });
      assert.equal(agent.disable_time, undefined);
      const stored = await stack.db.sql<{ keyDigest: string }[]>`select key_digest from agents where id = ${String(agent.id)}`;
      assert.equal(stored[0]!.keyDigest, await keyDigest(key), "only the digest is stored");
      const rows = JSON.stringify(await stack.db.sql`select * from agents`, (_k, v) => (typeof v === "bigint" ? String(v) : v));
      assert.ok(!rows.includes(key) && !rows.includes(key.slice(36, 79)), "the key itself is stored nowhere");
    });

    it("makes a different key for every agent", async () => {
      const keys = await Promise.all(["distinct-1", "distinct-2", "distinct-3"].map(async (name) => (await create({ name })).body.api_key as string));
      assert.equal(new Set(keys).size, 3);
      for (const key of keys) assert.match(key, keyFormat);
    });

    it("refuses a name taken by a live agent with 409 name_taken, and frees it when that agent is disabled", async () => {
      const first = await create({ name: "taken-name" });
      assert.equal(first.status, 201);
      assert.deepEqual(errorOf(await create({ name: "taken-name" })), { status: 409, code: "already_exists", reason: "name_taken", field: "agent.name" });
      assert.equal((await brokerRest(stack, "DELETE", `/agents/${agentOf(first).id}`)).status, 200);
      const again = await create({ name: "taken-name" });
      assert.equal(again.status, 201, "a disabled agent's name may be used again");
      assert.notEqual(agentOf(again).id, agentOf(first).id);
    });

    it("refuses a missing or malformed name, and an unknown provider name shape, naming the field", async () => {
      assert.deepEqual(errorOf(await create({ description: "no name" })), { status: 400, code: "invalid_argument", reason: "invalid_argument", field: "agent.name" });
      assert.equal(errorOf(await create({ name: "Not Kebab" })).field, "agent.name");
      assert.equal(errorOf(await create({ name: "x".repeat(65) })).field, "agent.name");
      assert.equal(errorOf(await create({ name: "bad-providers", allowed_providers: ["Not A Provider"] })).field, "agent.allowed_providers");
    });

    it("refuses to register without the Broker's API key, or with an agent's key", async () => {
      const anonymous = await fetch(`${stack.broker.url}/agents`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ agent: { name: "anon" } }) });
      assert.equal(anonymous.status, 401);
      const agentKey = (await create({ name: "not-an-admin" })).body.api_key as string;
      const withAgentKey = await fetch(`${stack.broker.url}/agents`, { headers: { "x-api-key": agentKey } });
      assert.equal(withAgentKey.status, 401);
    });
  });

  describe("JWKS validation", () => {
    const jwks = (...keys: Json[]) => ({ keys });
    const cases: [string, () => Json, string][] = [
      ["a private JWK (with d)", () => jwks(es.privateJwk as Json), "agent.jwks.keys[0]"],
      ["an HS256 (oct) key", () => jwks({ kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", kid: "hmac", alg: "HS256" }), "agent.jwks.keys[0].kty"],
      ["a duplicate kid", () => jwks(es.publicJwk as Json, { ...(rs.publicJwk as Json), kid: es.kid }), "agent.jwks.keys[1].kid"],
      ["a key without kid", () => jwks({ ...(es.publicJwk as Json), kid: undefined }), "agent.jwks.keys[0].kid"],
      ["more than 10 keys", () => jwks(...Array.from({ length: 11 }, (_, i) => ({ ...(es.publicJwk as Json), kid: `k${i}` }))), "agent.jwks.keys"],
      ["a symmetric alg on an asymmetric key", () => jwks({ ...(es.publicJwk as Json), alg: "HS256" }), "agent.jwks.keys[0].alg"],
      ["alg none", () => jwks({ ...(es.publicJwk as Json), alg: "none" }), "agent.jwks.keys[0].alg"],
      ["an EC key whose point is not on the curve", () => jwks({ ...(es.publicJwk as Json), x: (rs.publicJwk as JWK).e }), "agent.jwks.keys[0]"],
      ["a member other than keys", () => ({ keys: [es.publicJwk], extra: true }), "agent.jwks"],
      ["an empty key list", () => ({ keys: [] }), "agent.jwks.keys"],
      ["a use other than sig", () => jwks({ ...(es.publicJwk as Json), use: "enc" }), "agent.jwks.keys[0].use"],
    ];
    for (const [what, make, field] of cases) {
      it(`refuses ${what} with invalid_argument naming ${field}, on create and on PATCH`, async () => {
        const name = `jwks-${what.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "").toLowerCase()}`.slice(0, 60);
        const created = await create({ name, jwks: make() });
        assert.deepEqual(errorOf(created), { status: 400, code: "invalid_argument", reason: "invalid_argument", field });
        const live = await create({ name, jwks: { keys: [es.publicJwk] } });
        const patched = await brokerRest(stack, "PATCH", `/agents/${agentOf(live).id}`, { agent: { jwks: make() } });
        assert.deepEqual(errorOf(patched), { status: 400, code: "invalid_argument", reason: "invalid_argument", field });
        assert.deepEqual((await brokerRest(stack, "GET", `/agents/${agentOf(live).id}`)).body.jwks, { keys: [es.publicJwk] }, "the refused change changed nothing");
      });
    }

    it("never echoes private key material in the refusal", async () => {
      const r = await create({ name: "private-echo", jwks: jwks(es.privateJwk as Json) });
      assert.equal(r.status, 400);
      assert.ok(!JSON.stringify(r.body).includes(String(es.privateJwk.d)));
    });
  });

  describe("reads", () => {
    it("list and get never return a key or a digest", async () => {
      const r = await create({ name: "read-agent", jwks: { keys: [es.publicJwk] } });
      const key = r.body.api_key as string;
      const id = String(agentOf(r).id);
      const digest = await keyDigest(key);
      const list = await brokerRest(stack, "GET", "/agents");
      const one = await brokerRest(stack, "GET", `/agents/${id}`);
      assert.equal(list.status, 200);
      assert.equal(one.status, 200);
      assert.ok((list.body.agents as Json[]).some((a) => a.id === id));
      assert.equal(one.body.id, id, "GET /agents/{id} answers the agent itself");
      for (const [what, body] of [["list", list.body], ["get", one.body]] as const) {
        const text = JSON.stringify(body);
        assert.ok(!text.includes(key), `${what} shows the key`);
        assert.ok(!text.includes(digest), `${what} shows the digest`);
        assert.ok(!/nxa_|"api_key"|digest/.test(text), `${what} has a key or digest field: ${text.slice(0, 200)}`);
      }
    });

    it("lists newest first, disabled agents too", async () => {
      const names = ((await brokerRest(stack, "GET", "/agents")).body.agents as Json[]).map((a) => a.name);
      assert.ok(names.indexOf("read-agent") < names.indexOf("created-agent"), "newest first");
      assert.ok(((await brokerRest(stack, "GET", "/agents")).body.agents as Json[]).some((a) => a.name === "taken-name" && a.disabled === true));
    });

    it("answers 404 agent_not_found for an unknown id and 400 for an id that is not a UUID", async () => {
      assert.deepEqual(errorOf(await brokerRest(stack, "GET", `/agents/${randomUUID()}`)), { status: 404, code: "not_found", reason: "agent_not_found", field: "id" });
      assert.equal(errorOf(await brokerRest(stack, "GET", "/agents/not-a-uuid")).field, "id");
    });
  });

  describe("PATCH", () => {
    it("changes only the fields present in the body (the mask derived over REST)", async () => {
      const id = String(agentOf(await create({ name: "patched-agent", description: "before", allowed_providers: ["keyed"], jwks: { keys: [es.publicJwk] } })).id);
      const patch = async (agent: Json) => {
        const r = await brokerRest(stack, "PATCH", `/agents/${id}`, { agent });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body;
      };
      const described = await patch({ description: "after" });
      assert.deepEqual([described.description, described.allowed_providers, described.jwks], ["after", ["keyed"], { keys: [es.publicJwk] }]);
      const narrowed = await patch({ allowed_providers: ["other", "keyed"] });
      assert.deepEqual([narrowed.description, narrowed.allowed_providers, narrowed.jwks], ["after", ["other", "keyed"], { keys: [es.publicJwk] }]);
      const rekeyed = await patch({ jwks: { keys: [rs.publicJwk] } });
      assert.deepEqual([rekeyed.description, rekeyed.allowed_providers, rekeyed.jwks], ["after", ["other", "keyed"], { keys: [rs.publicJwk] }]);
      const opened = await patch({ allowed_providers: [] });
      assert.deepEqual([opened.description, opened.allowed_providers], ["after", []], "an empty list present in the body empties it");
      assert.notEqual(opened.update_time, described.update_time);
      assert.equal(opened.name, "patched-agent");
      const keyless = await patch({ jwks: null });
      assert.deepEqual([keyless.description, keyless.jwks], ["after", undefined], "jwks: null removes every key");
    });

    it("takes effect: allowed_providers limits request-connection and the JWKS decides which assertions verify", async () => {
      const r = await create({ name: "effective-agent", allowed_providers: ["keyed"], jwks: { keys: [es.publicJwk] } });
      const id = String(agentOf(r).id);
      const key = r.body.api_key as string;
      const start = (provider: string) => restClient(stack.gateway.url, key).requestConnection({ user_id: "ws-effective", provider_name: provider, return_url: "https://app.example.com/back" });
      assert.equal((await rejection<GatewayCallError>(start("other"))).reason, "provider_not_allowed");
      assert.equal((await brokerRest(stack, "PATCH", `/agents/${id}`, { agent: { allowed_providers: ["keyed", "other"] } })).status, 200);
      assert.match(String((await start("other")).connection_id), /^[0-9a-f-]{36}$/);
      await connectionOf(key, "ws-effective-2");
      assert.ok(await resolveWith(await signAssertion(es, { agentId: id, audience }), "ws-effective-2"));
      assert.equal((await brokerRest(stack, "PATCH", `/agents/${id}`, { agent: { jwks: { keys: [rs.publicJwk] } } })).status, 200);
      assert.equal((await rejection<GatewayCallError>(resolveWith(await signAssertion(es, { agentId: id, audience }), "ws-effective-2"))).reason, "assertion_invalid");
      assert.ok(await resolveWith(await signAssertion(rs, { agentId: id, audience }), "ws-effective-2"));
    });

    it("refuses a body that names no changeable field, or the name", async () => {
      const id = String(agentOf(await create({ name: "unpatchable" })).id);
      assert.equal(errorOf(await brokerRest(stack, "PATCH", `/agents/${id}`, { agent: {} })).field, "update_mask");
      assert.equal(errorOf(await brokerRest(stack, "PATCH", `/agents/${id}`, { agent: { name: "renamed" } })).field, "update_mask");
      assert.equal((await brokerRest(stack, "GET", `/agents/${id}`)).body.name, "unpatchable");
    });
  });

  describe("over gRPC, with an explicit update_mask", () => {
    it("creates with the key once, and UpdateAgent changes exactly the masked fields", async () => {
      const grpc = grpcJsClient(stack.broker.url, "nexus/broker/v1/agent_service.proto", "nexus.broker.v1.AgentService");
      const md = { "x-api-key": stack.adminKey };
      try {
        const created = await grpc.CreateAgent!({ agent: { name: "grpc-agent", description: "before", allowed_providers: ["keyed"] } }, md);
        assert.match(String(created.api_key), keyFormat);
        const id = String((created.agent as Json).id);
        const updated = await grpc.UpdateAgent!({ id, agent: { description: "after", allowed_providers: ["other"] }, update_mask: { paths: ["description"] } }, md);
        assert.deepEqual([(updated.agent as Json).description, (updated.agent as Json).allowed_providers], ["after", ["keyed"]], "allowed_providers was not in the mask");
        const both = await grpc.UpdateAgent!({ id, agent: { description: "", allowed_providers: ["other"] }, update_mask: { paths: ["agent.allowed_providers", "description"] } }, md);
        // grpc-js leaves out empty strings (defaults: false): an absent description is the empty one.
        assert.deepEqual([(both.agent as Json).description ?? "", (both.agent as Json).allowed_providers], ["", ["other"]], "a masked field empty in agent is cleared");
        for (const paths of [[], ["name"], ["key_digest"]]) {
          const e = await rejection<GrpcJsError>(grpc.UpdateAgent!({ id, agent: { name: "renamed" }, update_mask: { paths } }, md));
          assert.equal(e.code, 3, `${JSON.stringify(paths)}: INVALID_ARGUMENT`);
        }
        const read = await grpc.GetAgent!({ id }, md);
        assert.equal((read.agent as Json).name, "grpc-agent");
        assert.ok(!JSON.stringify(read).includes(String(created.api_key)));
        const rotated = await grpc.RotateAgentKey!({ id }, md);
        assert.match(String(rotated.api_key), keyFormat);
        const unauthenticated = await rejection<GrpcJsError>(grpc.ListAgents!({}, { "x-api-key": String(rotated.api_key) }));
        assert.equal(unauthenticated.code, 16, "an agent's key is not an admin key");
      } finally {
        grpc.close();
      }
    });
  });

  describe("rotate-key", () => {
    it("answers a new key once; the new key works and the old one is refused at once", async () => {
      const r = await create({ name: "rotating-agent" });
      const id = String(agentOf(r).id);
      const old = r.body.api_key as string;
      await connectionOf(old, "ws-rotating");
      const rotated = await brokerRest(stack, "POST", `/agents/${id}/rotate-key`);
      assert.equal(rotated.status, 200);
      assert.equal(rotated.headers.get("cache-control"), "no-store");
      const fresh = rotated.body.api_key as string;
      assert.match(fresh, keyFormat);
      assert.notEqual(fresh, old);
      assert.equal(fresh.slice(4, 36), old.slice(4, 36), "the same agent");
      assert.equal(((await resolveWith(fresh, "ws-rotating")).credentials as Json).api_key, "key-in-ws-rotating-0123456789", "the connection stays the agent's");
      assert.equal((await rejection<GatewayCallError>(resolveWith(old, "ws-rotating"))).reason, "agent_key_invalid");
      const stored = await stack.db.sql<{ keyDigest: string }[]>`select key_digest from agents where id = ${id}`;
      assert.equal(stored[0]!.keyDigest, await keyDigest(fresh));
    });
  });

  describe("DELETE", () => {
    it("disables the agent, idempotently; it stays listed as disabled and none of its credentials work", async () => {
      const r = await create({ name: "disabled-agent", jwks: { keys: [es.publicJwk] } });
      const id = String(agentOf(r).id);
      const key = r.body.api_key as string;
      await connectionOf(key, "ws-disabled");
      const first = await brokerRest(stack, "DELETE", `/agents/${id}`);
      assert.equal(first.status, 200);
      assert.equal(first.body.disabled, true);
      assert.match(String(first.body.disable_time), /^\d{4}-\d\d-\d\dT/);
      const second = await brokerRest(stack, "DELETE", `/agents/${id}`);
      assert.equal(second.status, 200, "disabling twice is fine");
      assert.deepEqual([second.body.disabled, second.body.disable_time], [true, first.body.disable_time], "and changes nothing");
      const listed = ((await brokerRest(stack, "GET", "/agents")).body.agents as Json[]).find((a) => a.id === id);
      assert.deepEqual([listed?.disabled, listed?.name], [true, "disabled-agent"]);
      assert.equal((await rejection<GatewayCallError>(resolveWith(key, "ws-disabled"))).reason, "agent_disabled");
      assert.equal((await rejection<GatewayCallError>(resolveWith(await signAssertion(es, { agentId: id, audience }), "ws-disabled"))).reason, "agent_disabled");
    });

    it("answers 404 for an unknown agent", async () => {
      assert.equal(errorOf(await brokerRest(stack, "DELETE", `/agents/${randomUUID()}`)).reason, "agent_not_found");
    });

    it("refuses to change or rotate a disabled agent as the operator's mistake (400), not as a bad admin key (401)", async () => {
      const id = String(agentOf(await create({ name: "gone-agent" })).id);
      assert.equal((await brokerRest(stack, "DELETE", `/agents/${id}`)).status, 200);
      for (const r of [await brokerRest(stack, "POST", `/agents/${id}/rotate-key`), await brokerRest(stack, "PATCH", `/agents/${id}`, { agent: { description: "x" } })]) {
        assert.deepEqual(errorOf(r), { status: 400, code: "invalid_argument", reason: "invalid_argument", field: "id" }, JSON.stringify(r.body));
        assert.match(String(r.body.message), /disabled/);
        assert.equal(r.body.api_key, undefined);
      }
    });
  });

  describe("audit", () => {
    it("GET /audit?agent_id= returns only that agent's events, and each event of an agent's call names it", async () => {
      const make = async (name: string) => {
        const r = await create({ name });
        return { id: String(agentOf(r).id), key: r.body.api_key as string };
      };
      const a = await make("audited-a");
      const b = await make("audited-b");
      await connectionOf(a.key, "ws-audited-a");
      await connectionOf(b.key, "ws-audited-b");
      await resolveWith(a.key, "ws-audited-a");
      await resolveWith(b.key, "ws-audited-b");
      const aConnection = (await stack.db.sql<{ id: string }[]>`select id from connections where workspace_id = 'ws-audited-a'`)[0]!.id;
      assert.equal((await rejection<GatewayCallError>(restClient(stack.gateway.url, b.key).getToken(aConnection))).reason, "agent_not_authorized");

      for (const agent of [a, b]) {
        const r = await brokerRest(stack, "GET", `/audit?agent_id=${agent.id}&limit=1000`);
        assert.equal(r.status, 200);
        const events = r.body.events as Json[];
        assert.deepEqual([...new Set(events.map((e) => e.agent_id))], [agent.id], "only this agent's events");
        assert.deepEqual([...new Set(events.map((e) => e.caller))], [`agent:${agent.id}`]);
        const types = new Set(events.map((e) => e.event_type));
        assert.ok(types.has("token.read") && types.size >= 2, `events: ${[...types].join(", ")}`);
        const counted = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from audit_events where agent_id = ${agent.id}`;
        assert.equal(events.length, counted[0]!.n, "every one of them");
      }
      const refused = ((await brokerRest(stack, "GET", `/audit?agent_id=${b.id}&limit=1000`)).body.events as Json[]).filter((e) => e.outcome === "failure");
      assert.deepEqual(refused.map((e) => [e.reason, e.connection_id]), [["agent_not_authorized", aConnection]], "B's refused read of A's connection is B's event");
      const unnamed = await stack.db.sql`select event_type, caller from audit_events where caller ~ '^agent:[0-9a-f]{8}-' and (agent_id is null or caller <> 'agent:' || agent_id::text)`;
      assert.deepEqual([...unnamed], [], "every event of a registered agent's call names it");
    });

    it("refuses an agent_id that is not a UUID, naming the field", async () => {
      assert.equal(errorOf(await brokerRest(stack, "GET", "/audit?agent_id=not-a-uuid")).field, "agent_id");
    });
  });

  describe("AGENT_API_KEYS", () => {
    it("a Gateway without AGENT_API_KEYS starts, serves registered agents, refuses other keys and warns of nothing", async () => {
      const logs: string[] = [];
      const { AGENT_API_KEYS: _unscoped, ...env } = stack.gatewayEnv;
      const gateway = await startGateway(env, { port: 0, logWrite: (l) => void logs.push(l) });
      try {
        const r = await create({ name: "keyless-gateway-agent" });
        await connectionOf(r.body.api_key as string, "ws-keyless");
        const answer = await restClient(gateway.url, r.body.api_key as string).resolve("ws-keyless", "keyed");
        assert.equal((answer.credentials as Json).api_key, "key-in-ws-keyless-0123456789");
        assert.equal((await rejection<GatewayCallError>(restClient(gateway.url, stack.agentKey).resolve("ws-keyless", "keyed"))).reason, "agent_key_invalid");
        assert.deepEqual(logs.filter((l) => l.includes('"level":"warn"')), []);
      } finally {
        await gateway.close();
      }
    });

    it("a Gateway with AGENT_API_KEYS warns at start that they are unscoped, naming how many and never a key", () => {
      const warnings = stack.logs.filter((l) => l.includes('"service":"gateway"') && l.includes('"level":"warn"'));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /AGENT_API_KEYS are unscoped keys/);
      assert.match(warnings[0]!, /POST \/agents/);
      assert.match(warnings[0]!, /"unscoped_keys":1/);
      assert.ok(!warnings[0]!.includes(stack.agentKey));
    });
  });
});
