/**
 * The access boundary between agents (issue 16), through the Gateway on REST,
 * Connect (JSON) and gRPC: two registered agents, A (allowed one provider) and
 * B (unrestricted), and one unscoped AGENT_API_KEYS key U. Each operation is
 * tried by each caller on each protocol; the matrix is printed as a Markdown
 * table (run with --test-reporter=spec to see it) for docs/agents.md.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { keyDigest } from "../../src/broker/domain/agent.ts";
import { brokerRest, deliverCallback, registerProvider } from "../support/broker-api.ts";
import { registerAgent, rejection, type RegisteredAgent } from "../support/agents.ts";
import { connectJsonClient, type GatewayCallError, type GatewayTestClient, grpcClient, restClient } from "../support/gateway-clients.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";

type Caller = "A" | "B" | "U";
type Client = GatewayTestClient & { close?(): void };
type Json = Record<string, unknown>;

const callers: readonly Caller[] = ["A", "B", "U"];
const protocols: readonly [string, (url: string, key: string) => Client][] = [
  ["REST", restClient], ["Connect JSON", connectJsonClient], ["gRPC", grpcClient],
];

/** An outcome as the table shows it: "ok", or the code and reason of the refusal. */
const ok = "ok";
const notAuthorized = "permission_denied (agent_not_authorized)";
const notAllowed = "permission_denied (provider_not_allowed)";
const notFound = "not_found (connection_not_found)";
const notRefreshable = "failed_precondition (not_refreshable)";
/** The HTTP status REST answers for each refusal. */
const httpStatus: Record<string, number> = { [notAuthorized]: 403, [notAllowed]: 403, [notFound]: 404, [notRefreshable]: 400 };

describe("agent isolation: who may use whose connection, on REST, Connect and gRPC", () => {
  let stack: TestStack;
  let idp: TestIdp;
  let agents: Record<"A" | "B", RegisteredAgent>;
  let idpId: string;
  /** The callers' keys: A's and B's registered keys, and U from AGENT_API_KEYS. */
  const keys = {} as Record<Caller, string>;
  /** The connections the matrix reads, and the secrets they hold. */
  const fixture = { aStatic: "", aSecret: "", bOAuth: "", uStatic: "", uSecret: "" };

  /** The api_key a credential answer carries, or the access token of an OAuth one. */
  const secretOf = (credential: Json) => {
    const c = credential.credentials as Record<string, string> | undefined;
    return c?.api_key ?? c?.access_token;
  };

  async function captured(client: Client, workspace: string, secret: string): Promise<string> {
    const started = await client.requestConnection({ user_id: workspace, provider_name: "keyed", return_url: "https://app.example.com/back" });
    const done = await restClient(stack.gateway.url).captureCredential(String(started.state), { api_key: secret });
    assert.equal(done.status, "active");
    return String(started.connection_id);
  }

  before(async () => {
    idp = await startTestIdp({ clients: [{ client_id: "nexus", client_secret: "s3cret", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }] });
    stack = await startStack();
    idpId = await registerProvider(stack, { name: "test-idp", auth_type: "oauth2", client_id: "nexus", client_secret: "s3cret", issuer: idp.issuer, enable_discovery: true, scopes: ["openid", "email"] });
    await registerProvider(stack, { name: "keyed", auth_type: "api_key" });
    agents = {
      A: await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-a", allowed_providers: ["keyed"] }),
      B: await registerAgent(stack.broker.url, stack.adminKey, { name: "agent-b" }),
    };
    Object.assign(keys, { A: agents.A.apiKey, B: agents.B.apiKey, U: stack.agentKey });
    const rest = (c: Caller) => restClient(stack.gateway.url, keys[c]);

    fixture.aSecret = "key-of-agent-a-0123456789";
    fixture.aStatic = await captured(rest("A"), "ws-a", fixture.aSecret);
    fixture.uSecret = "key-of-unscoped-u-0123456789";
    fixture.uStatic = await captured(rest("U"), "ws-u", fixture.uSecret);
    const oauth = await rest("B").requestConnection({ user_id: "ws-b", provider_name: "test-idp", return_url: "https://app.example.com/back" });
    assert.equal((await deliverCallback(stack, await idp.authorize(String(oauth.auth_url)))).status, 303);
    fixture.bOAuth = String(oauth.connection_id);
    assert.equal((await rest("B").checkConnection(fixture.bOAuth)).status, "active");
  });
  after(async () => {
    await stack.close();
    await idp.close();
  });

  /** One row of the matrix: an operation and what each caller gets. */
  interface Row {
    readonly operation: string;
    readonly call: (client: Client, caller: Caller, protocol: string) => Promise<Json>;
    readonly expect: Readonly<Record<Caller, string>>;
    /** Checks a successful answer further (whose credential it is). */
    readonly check?: (answer: Json, caller: Caller) => void;
  }

  const rows: Row[] = [
    {
      operation: "check-connection: A's connection",
      call: (c) => c.checkConnection(fixture.aStatic),
      expect: { A: ok, B: notAuthorized, U: ok },
      check: (r) => assert.equal(r.status, "active"),
    },
    {
      operation: "token: A's connection",
      call: (c) => c.getToken(fixture.aStatic),
      expect: { A: ok, B: notAuthorized, U: ok },
      check: (r) => assert.equal(secretOf(r), fixture.aSecret),
    },
    {
      operation: "refresh: A's connection (static)",
      call: (c) => c.refresh(fixture.aStatic),
      expect: { A: notRefreshable, B: notAuthorized, U: notRefreshable },
    },
    {
      operation: "resolve: A's workspace",
      call: (c) => c.resolve("ws-a", "keyed"),
      expect: { A: ok, B: notFound, U: ok },
      check: (r) => assert.equal(secretOf(r), fixture.aSecret),
    },
    {
      operation: "check-connection: B's OAuth connection",
      call: (c) => c.checkConnection(fixture.bOAuth),
      expect: { A: notAuthorized, B: ok, U: ok },
      check: (r) => assert.equal(r.status, "active"),
    },
    {
      operation: "token: B's OAuth connection",
      call: (c) => c.getToken(fixture.bOAuth),
      expect: { A: notAuthorized, B: ok, U: ok },
      check: (r) => assert.match(String(secretOf(r)), /./),
    },
    {
      operation: "refresh: B's OAuth connection",
      call: (c) => c.refresh(fixture.bOAuth),
      expect: { A: notAuthorized, B: ok, U: ok },
      check: (r) => assert.equal((r.strategy as Json).type, "oauth2"),
    },
    {
      operation: "resolve: B's workspace",
      call: (c) => c.resolve("ws-b", "test-idp"),
      expect: { A: notFound, B: ok, U: ok },
      check: (r) => assert.equal((r.strategy as Json).type, "oauth2"),
    },
    {
      operation: "token: U's connection",
      call: (c) => c.getToken(fixture.uStatic),
      expect: { A: notAuthorized, B: notAuthorized, U: ok },
      check: (r) => assert.equal(secretOf(r), fixture.uSecret),
    },
    {
      operation: "resolve: U's workspace",
      call: (c) => c.resolve("ws-u", "keyed"),
      expect: { A: notFound, B: notFound, U: ok },
      check: (r) => assert.equal(secretOf(r), fixture.uSecret),
    },
    {
      operation: "request-connection: keyed (allowed to A)",
      call: (c, caller, protocol) => c.requestConnection({ user_id: `ws-new-${caller}-${protocol.replace(/\W/g, "")}`, provider_name: "keyed", return_url: "https://app.example.com/back" }),
      expect: { A: ok, B: ok, U: ok },
      check: (r) => assert.match(String(r.connection_id), /^[0-9a-f-]{36}$/),
    },
    {
      operation: "request-connection: test-idp (not allowed to A)",
      call: (c, caller, protocol) => c.requestConnection({ user_id: `ws-new-${caller}-${protocol.replace(/\W/g, "")}`, provider_name: "test-idp", return_url: "https://app.example.com/back" }),
      expect: { A: notAllowed, B: ok, U: ok },
      check: (r) => assert.ok(String(r.auth_url).startsWith(idp.issuer)),
    },
    {
      operation: "request-connection: test-idp by provider_id (not allowed to A)",
      call: (c, caller, protocol) => c.requestConnection({ user_id: `ws-id-${caller}-${protocol.replace(/\W/g, "")}`, provider_id: idpId, return_url: "https://app.example.com/back" }),
      expect: { A: notAllowed, B: ok, U: ok },
      check: (r) => assert.ok(String(r.auth_url).startsWith(idp.issuer)),
    },
  ];

  /** The outcome of a call as the table shows it. */
  async function outcome(run: () => Promise<Json>, protocol: string, check: Row["check"], caller: Caller): Promise<string> {
    let answer: Json;
    try {
      answer = await run();
    } catch (error) {
      const e = error as GatewayCallError;
      if (e.reason === undefined) throw error;
      const seen = `${e.code} (${e.reason})`;
      if (protocol === "REST" && httpStatus[seen] !== undefined) assert.equal(e.httpStatus, httpStatus[seen], `REST status of ${seen}`);
      return seen;
    }
    check?.(answer, caller);
    return ok;
  }

  it("gives each caller exactly the expected outcome for each operation on every protocol", async (t) => {
    const observed = new Map<string, Map<Caller, Set<string>>>();
    const mismatches: string[] = [];
    for (const [protocol, make] of protocols) {
      for (const caller of callers) {
        const client = make(stack.gateway.url, keys[caller]);
        try {
          for (const row of rows) {
            const got = await outcome(() => row.call(client, caller, protocol), protocol, row.check, caller);
            if (got !== row.expect[caller]) mismatches.push(`${protocol}, ${caller}, ${row.operation}: expected ${row.expect[caller]}, got ${got}`);
            const cells = observed.get(row.operation) ?? new Map<Caller, Set<string>>();
            observed.set(row.operation, cells);
            cells.set(caller, (cells.get(caller) ?? new Set()).add(got));
          }
        } finally {
          client.close?.();
        }
      }
    }
    const table = [
      "| operation | agent A (allowed_providers: keyed) | agent B (all providers) | AGENT_API_KEYS key U |",
      "|---|---|---|---|",
      ...rows.map((row) => `| ${row.operation} | ${callers.map((c) => [...observed.get(row.operation)!.get(c)!].join(" / ")).join(" | ")} |`),
    ].join("\n");
    const statuses = Object.entries(httpStatus).map(([o, s]) => `${o.split(" ")[0]} ${s}`);
    t.diagnostic(`isolation matrix (identical on ${protocols.map(([p]) => p).join(", ")}; REST answers ${[...new Set(statuses)].join(", ")}):\n${table}`);
    assert.deepEqual(mismatches, []);
  });

  it("keeps a connection a registered agent starts its own: the connection records the agent, and U's records none", async () => {
    const rows = await stack.db.sql<{ id: string; agentId: string | null }[]>`select id, agent_id from connections where id in (${fixture.aStatic}, ${fixture.bOAuth}, ${fixture.uStatic})`;
    const byId = new Map(rows.map((r) => [r.id, r.agentId]));
    assert.equal(byId.get(fixture.aStatic), agents.A.id);
    assert.equal(byId.get(fixture.bOAuth), agents.B.id);
    assert.equal(byId.get(fixture.uStatic), null);
  });

  it("planting: B's connection in A's workspace never answers A's resolve, on any protocol", async () => {
    // B starts and captures its own connection to the same provider in A's workspace, after A's.
    const planted = "planted-by-agent-b-0123456789";
    const plantedId = await captured(restClient(stack.gateway.url, keys.B), "ws-a", planted);
    // And in a workspace where A has no connection at all.
    await captured(restClient(stack.gateway.url, keys.B), "ws-a-empty", planted);
    for (const [protocol, make] of protocols) {
      const a = make(stack.gateway.url, keys.A);
      const b = make(stack.gateway.url, keys.B);
      try {
        assert.equal(secretOf(await a.resolve("ws-a", "keyed")), fixture.aSecret, `${protocol}: A resolves its own key, not B's newer one`);
        const none = await rejection<GatewayCallError>(a.resolve("ws-a-empty", "keyed"));
        assert.equal(none.reason, "connection_not_found", `${protocol}: A finds nothing where only B connected`);
        const bResolved = await b.resolve("ws-a", "keyed");
        assert.equal(secretOf(bResolved), planted, `${protocol}: B resolves its own connection`);
        assert.equal((await rejection<GatewayCallError>(a.getToken(plantedId))).reason, "agent_not_authorized", `${protocol}: A may not read B's planted connection by id`);
      } finally {
        a.close?.();
        b.close?.();
      }
    }
    // The unscoped key sees every connection: the newest in the workspace is B's.
    assert.equal(secretOf(await restClient(stack.gateway.url, keys.U).resolve("ws-a", "keyed")), planted);
  });

  it("names the registered agent in every audit event of its calls, and GET /audit?agent_id= returns only that agent's", async () => {
    // Every row written by a call of A or B (caller agent:<id>) carries that id.
    const rows = await stack.db.sql<{ eventType: string; caller: string; agentId: string | null }[]>`
      select event_type, caller, agent_id from audit_events where caller ~ '^agent:[0-9a-f]{8}-'`;
    assert.ok(rows.some((r) => r.eventType === "token.refreshed" && r.caller === `agent:${agents.B.id}`), "B's refresh is audited");
    const unnamed = rows.filter((r) => r.agentId === null || r.caller !== `agent:${r.agentId}`).map((r) => `${r.eventType} by ${r.caller}: agent_id ${r.agentId}`);
    assert.deepEqual(unnamed, []);
    for (const agent of [agents.A, agents.B]) {
      const r = await brokerRest(stack, "GET", `/audit?agent_id=${agent.id}&limit=1000`);
      assert.equal(r.status, 200);
      const events = r.body.events as Json[];
      assert.ok(events.length >= 10, `${agent.name} has events`);
      assert.deepEqual([...new Set(events.map((e) => e.agent_id))], [agent.id]);
      const expected = (await stack.db.sql<{ n: number }[]>`select count(*)::int as n from audit_events where agent_id = ${agent.id}`)[0]!.n;
      assert.equal(events.length, expected, "every event of the agent, and no other");
    }
    // U's calls are attributed by a stable digest prefix of the key, never the key, and name no agent.
    const fingerprint = `agent:${(await keyDigest(keys.U)).slice(0, 8)}`;
    const byU = await stack.db.sql<{ caller: string; agentId: string | null; count: number }[]>`select caller, agent_id, coalesce((details->>'count')::int, 1) as count
      from audit_events where connection_id = ${fixture.uStatic} and event_type = 'token.read' and outcome = 'success'`;
    assert.ok(byU.reduce((n, r) => n + r.count, 0) >= 3, "U's reads are audited (coalesced events count them)");
    for (const row of byU) {
      assert.ok(row.caller.startsWith(`${fingerprint} via `), row.caller);
      assert.equal(row.agentId, null);
    }
    // A's refused refresh of B's connection is audited as A's, naming B's connection.
    const refused = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from audit_events
      where agent_id = ${agents.A.id} and connection_id = ${fixture.bOAuth} and outcome = 'failure' and reason = 'agent_not_authorized'`;
    assert.ok(refused[0]!.n >= 3, "A's refused calls on B's connection are audited");
  });

  it("lists only the connections a registered agent started when it asks the Broker for a workspace's connections", async () => {
    // ListConnections is not on the Gateway; the Broker's REST with the agent's credential shows the scope.
    const list = (agent: RegisteredAgent) => brokerRest(stack, "GET", "/connections?workspace_id=ws-a", undefined, { "x-nexus-agent-credential": agent.apiKey });
    const a = await list(agents.A);
    assert.equal(a.status, 200);
    assert.deepEqual((a.body.connections as Json[]).map((c) => c.id), [fixture.aStatic]);
    const b = await list(agents.B);
    assert.ok((b.body.connections as Json[]).length > 0);
    assert.ok((b.body.connections as Json[]).every((c) => c.agent_id === agents.B.id));
  });
});
