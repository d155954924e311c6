/**
 * The `nexus` command's daily operations against a real Broker (and a
 * Gateway, where an agent's key or a session must be used): agents,
 * connections, sessions, audit (with --follow), doctor, the one-line errors,
 * and no secret in any output but the one key create and rotate-key print.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { agentKeyPair } from "../support/agents.ts";
import { registerProvider } from "../support/broker-api.ts";
import { cliEnv, type CliRun, type FakeCliIoOptions, nexus } from "../support/fake-cli-io.ts";
import { freePort } from "../support/free-port.ts";
import { startStack, type TestStack } from "../support/stack.ts";
import { until } from "../support/until.ts";

/** Waits until `condition` holds. */
function waitFor(what: string, condition: () => boolean | Promise<boolean>, ms?: number): Promise<true> {
  return until(what, async () => ((await condition()) ? true : undefined), ms);
}

const root = new URL("../../", import.meta.url).pathname;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const agentKeyPattern = /^nxa_[A-Za-z0-9_-]+$/;

/** Every run of the suite, for the secret scan at the end; `printed` is the one key a run may print. */
const runs: { argv: readonly string[]; run: CliRun; printed?: string }[] = [];
/** Every secret the suite handles. */
const secrets = new Set<string>();

let stack: TestStack;
let env: Record<string, string>;

/** Runs `nexus` in process against the stack; records the run for the secret scan. */
async function cli(argv: readonly string[], options: FakeCliIoOptions = {}): Promise<CliRun> {
  const run = await nexus(argv, { env, ...options });
  runs.push({ argv, run });
  return run;
}

/** Runs a command that must succeed; returns its stdout. */
async function ok(...argv: string[]): Promise<string> {
  const run = await cli(argv);
  assert.equal(run.code, 0, `nexus ${argv.join(" ")}: ${run.stderr}`);
  return run.stdout;
}

/** Runs a --json command that must succeed; its stdout, parsed. */
async function json<T = Record<string, unknown>>(...argv: string[]): Promise<T> {
  return JSON.parse(await ok(...argv, "--json")) as T;
}

/** `agents create` (or rotate-key) that prints a key: the key, checked to be all of stdout. */
async function keyOf(...argv: string[]): Promise<string> {
  const run = await cli(argv);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^nxa_[A-Za-z0-9_-]+\n$/, "stdout is the key and a newline, nothing else");
  const key = run.stdout.trim();
  runs.at(-1)!.printed = key;
  secrets.add(key);
  return key;
}

/** A Gateway call with an agent's key: the HTTP status and JSON body. */
async function gateway(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.gateway.url}${path}`, {
    method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** Connects `workspace` to demo-api as the agent holding `key`: a static credential typed in; returns the connection id. */
async function connect(key: string, workspace: string, capture = true): Promise<string> {
  const started = await gateway(key, "POST", "/v1/request-connection", { user_id: workspace, provider_name: "demo-api", return_url: "https://app.example.com/back" });
  assert.equal(started.status, 200, JSON.stringify(started.body));
  if (capture) {
    const secret = `sk_test_${workspace}_${Math.random().toString(36).slice(2)}`;
    secrets.add(secret);
    const res = await fetch(`${stack.gateway.url}/v1/capture-credential`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ state: started.body.state, credentials: { api_key: secret } }),
    });
    assert.equal(res.status, 200, await res.text());
  }
  return started.body.connection_id as string;
}

interface AgentJson { id: string; name: string; description: string; allowed_providers: string[]; disabled: boolean; has_api_key: boolean; jwks?: { keys: unknown[] } }
interface ConnectionJson { id: string; workspace_id: string; provider_name: string; status: string; agent_id: string }
interface SessionJson { session_id: string; connection_id: string; agent_id: string; status: string }
interface AuditJson { id: string; event_type: string; connection_id: string; agent_id: string; outcome: string; details: Record<string, unknown> }

before(async () => {
  stack = await startStack();
  env = cliEnv(stack);
  secrets.add(stack.adminKey).add(stack.agentKey);
  await registerProvider(stack, { name: "demo-api", auth_type: "api_key" });
  await registerProvider(stack, { name: "other-api", auth_type: "api_key" });
});
after(() => stack.close());

describe("nexus agents", () => {
  it("create prints only the new key on stdout, the details on stderr, and the key works at the Gateway", async () => {
    const run = await cli(["agents", "create", "billing-agent", "--description", "Bills customers", "--allowed-providers", "demo-api"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^nxa_[A-Za-z0-9_-]+\n$/);
    const key = run.stdout.trim();
    runs.at(-1)!.printed = key;
    secrets.add(key);
    assert.match(run.stderr, /Registered agent billing-agent \([0-9a-f-]{36}\), allowed providers demo-api\.\n.*shown this once/s);
    assert.ok(!run.stderr.includes(key));
    // The key is an agent's: the Gateway lets it start a connection to its one allowed provider, and no other.
    const allowed = await gateway(key, "POST", "/v1/request-connection", { user_id: "carol", provider_name: "demo-api", return_url: "https://app.example.com/back" });
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    const refused = await gateway(key, "POST", "/v1/request-connection", { user_id: "carol", provider_name: "other-api", return_url: "https://app.example.com/back" });
    assert.equal(refused.status, 403);
  });

  it("create --jwks-file registers the public keys; list --json shows the agent with them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "nexus-cli-"));
    try {
      const pair = await agentKeyPair("ES256", "signer-1");
      await writeFile(join(dir, "jwks.json"), JSON.stringify({ keys: [pair.publicJwk] }));
      await keyOf("agents", "create", "signer", "--jwks-file", join(dir, "jwks.json"));
      const { agents } = await json<{ agents: AgentJson[] }>("agents", "list");
      const signer = agents.find((a) => a.name === "signer");
      assert.equal(signer?.jwks?.keys.length, 1);
      assert.match(signer.id, uuid);
      assert.deepEqual(signer.allowed_providers, []);
      // Not a JWK Set, and a file that is not there: one line each, nothing registered.
      await writeFile(join(dir, "bad.json"), JSON.stringify([1]));
      const bad = await cli(["agents", "create", "bad-jwks", "--jwks-file", join(dir, "bad.json")]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^nexus: --jwks-file .*bad\.json must hold a JWK Set/);
      const missing = await cli(["agents", "create", "bad-jwks", "--jwks-file", join(dir, "nope.json")]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^nexus: cannot read --jwks-file .*nope\.json/);
      assert.ok(!(await json<{ agents: AgentJson[] }>("agents", "list")).agents.some((a) => a.name === "bad-jwks"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("list prints a table that fits 100 columns, newest first", async () => {
    const out = await ok("agents", "list");
    const lines = out.trimEnd().split("\n");
    assert.match(lines[0]!, /^ID +NAME +STATUS +AUTH +PROVIDERS +CREATED \(UTC\)$/);
    assert.ok(lines.every((l) => l.length <= 100), out);
    assert.match(lines[1]!, /^[0-9a-f-]{36} {2}signer +active +key\+jwks +all +\d{4}-\d\d-\d\d \d\d:\d\d$/, "the newest first, with both credentials");
    assert.ok(lines.some((l) => /billing-agent +active +key +demo-api/.test(l)), out);
    assert.ok(!out.includes("\u001b["), "no colour when io.color is off");
    const coloured = await cli(["agents", "list"], { color: true });
    assert.ok(coloured.stdout.includes("\u001b[32mactive\u001b[0m"), coloured.stdout);
  });

  it("rotate-key prints a new key; the old one is refused at once", async () => {
    const old = await keyOf("agents", "create", "rotating-agent");
    const id = (await json<{ agents: AgentJson[] }>("agents", "list")).agents.find((a) => a.name === "rotating-agent")!.id;
    const run = await cli(["agents", "rotate-key", id]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^nxa_[A-Za-z0-9_-]+\n$/);
    const fresh = run.stdout.trim();
    runs.at(-1)!.printed = fresh;
    secrets.add(fresh);
    assert.notEqual(fresh, old);
    assert.match(run.stderr, new RegExp(`Rotated the API key of agent rotating-agent \\(${id}\\): the old key no longer works`));
    const body = { user_id: "dave", provider_name: "demo-api", return_url: "https://app.example.com/back" };
    assert.equal((await gateway(old, "POST", "/v1/request-connection", body)).status, 401);
    assert.equal((await gateway(fresh, "POST", "/v1/request-connection", body)).status, 200);
    // By name too, and --json gives the REST shape.
    const answer = await json<{ api_key: string }>("agents", "rotate-key", "rotating-agent");
    assert.match(answer.api_key, agentKeyPattern);
    runs.at(-1)!.printed = answer.api_key;
    secrets.add(answer.api_key);
    assert.equal((await gateway(fresh, "POST", "/v1/request-connection", body)).status, 401);
  });

  it("disable stops the key at once and keeps the agent listed as disabled", async () => {
    const key = await keyOf("agents", "create", "doomed-agent");
    const run = await cli(["agents", "disable", "doomed-agent"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^Disabled agent doomed-agent \([0-9a-f-]{36}\)/);
    assert.equal((await gateway(key, "POST", "/v1/request-connection", { user_id: "erin", provider_name: "demo-api", return_url: "https://app.example.com/back" })).status, 401);
    const doomed = (await json<{ agents: AgentJson[] }>("agents", "list")).agents.find((a) => a.name === "doomed-agent");
    assert.equal(doomed?.disabled, true);
    assert.match(await ok("agents", "list"), /doomed-agent +disabled/);
    const again = await cli(["agents", "disable", "doomed-agent"]);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, "nexus: agent doomed-agent is disabled already\n");
    const unknown = await cli(["agents", "disable", "no-such-agent"]);
    assert.equal(unknown.stderr, "nexus: no agent named \"no-such-agent\"; nexus agents list shows them\n");
  });
});

describe("nexus connections", () => {
  let aliceId = "";
  let bobId = "";
  let pendingId = "";
  let key = "";
  before(async () => {
    key = await keyOf("agents", "create", "conn-agent");
    aliceId = await connect(key, "alice");
    bobId = await connect(key, "bob");
    pendingId = await connect(key, "alice", false);
  });

  it("list filters by workspace, status and provider; --json parses and names the agent", async () => {
    const all = await json<{ connections: ConnectionJson[] }>("connections", "list", "--workspace", "alice");
    assert.deepEqual(all.connections.map((c) => c.id), [pendingId, aliceId], "newest first");
    const active = await json<{ connections: ConnectionJson[] }>("connections", "list", "--workspace", "alice", "--status", "active");
    assert.deepEqual(active.connections.map((c) => c.id), [aliceId]);
    const pending = await json<{ connections: ConnectionJson[] }>("connections", "list", "--status", "pending", "--provider", "demo-api");
    assert.ok(pending.connections.some((c) => c.id === pendingId) && pending.connections.every((c) => c.status === "pending"));
    assert.deepEqual((await json<{ connections: ConnectionJson[] }>("connections", "list", "--provider", "other-api")).connections, []);
    const table = await ok("connections", "list", "--workspace", "bob");
    assert.match(table, /^ID +WORKSPACE +PROVIDER +STATUS +AGENT +UPDATED \(UTC\)\n/);
    assert.match(table, new RegExp(`^${bobId} +bob +demo-api +active +conn-agent +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d$`, "m"));
    const none = await cli(["connections", "list", "--workspace", "nobody"]);
    assert.equal(none.stdout, "");
    assert.equal(none.stderr, "No connections match.\n");
  });

  it("pages with --limit and --page-token, the next token on stderr only", async () => {
    const first = await cli(["connections", "list", "--limit", "1"]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout.trimEnd().split("\n").length, 2, "a header and one row");
    const token = /^More connections: add --page-token (\S+)$/m.exec(first.stderr)?.[1];
    assert.ok(token !== undefined, first.stderr);
    assert.ok(!first.stdout.includes(token));
    const second = await cli(["connections", "list", "--limit", "1", "--page-token", token]);
    assert.equal(second.code, 0, second.stderr);
    assert.notEqual(second.stdout.split("\n")[1]!.slice(0, 36), first.stdout.split("\n")[1]!.slice(0, 36));
    const page = await json<{ connections: ConnectionJson[]; next_page_token: string }>("connections", "list", "--limit", "2");
    assert.equal(page.connections.length, 2);
    assert.notEqual(page.next_page_token, "");
    const bad = await cli(["connections", "list", "--limit", "0"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--limit <n>' argument '0' is invalid\. must be a whole number from 1 to 500/);
  });

  it("revoke revokes the connection: listed as revoked, refused at the Gateway", async () => {
    const run = await cli(["connections", "revoke", bobId]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "");
    assert.equal(run.stderr, `Revoked connection ${bobId} (demo-api, workspace bob): its secrets are deleted.\n`);
    const bob = await json<{ connections: ConnectionJson[] }>("connections", "list", "--workspace", "bob");
    assert.equal(bob.connections[0]?.status, "revoked");
    const token = await gateway(key, "GET", `/v1/token/${bobId}`);
    assert.notEqual(token.status, 200);
    const missing = await cli(["connections", "revoke", "00000000-0000-4000-8000-000000000000"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^nexus: connection_not_found: .*\n$/);
  });
});

describe("nexus sessions", () => {
  let connectionId = "";
  let sessionId = "";
  let childId = "";
  let holder = { id: "", key: "" };
  let delegate = { id: "", key: "" };
  before(async () => {
    const agents = async (name: string) => {
      const key = await keyOf("agents", "create", name);
      return { key, id: (await json<{ agents: AgentJson[] }>("agents", "list")).agents.find((a) => a.name === name)!.id };
    };
    holder = await agents("session-holder");
    delegate = await agents("session-delegate");
    connectionId = await connect(holder.key, "frank");
    const created = await gateway(holder.key, "POST", "/v1/sessions", { connection_id: connectionId, agent_id: holder.id, ttl_seconds: 600 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    sessionId = created.body.session_id as string;
    secrets.add(created.body.session_token as string);
    const child = await gateway(holder.key, "POST", "/v1/sessions", { connection_id: connectionId, agent_id: delegate.id, parent_session_id: sessionId, ttl_seconds: 300 });
    assert.equal(child.status, 201, JSON.stringify(child.body));
    childId = child.body.session_id as string;
    secrets.add(child.body.session_token as string);
  });

  it("list filters by agent, connection and status; --json parses", async () => {
    const byConnection = await json<{ sessions: SessionJson[] }>("sessions", "list", "--connection", connectionId);
    assert.deepEqual(byConnection.sessions.map((s) => s.session_id), [childId, sessionId]);
    const byDelegate = await json<{ sessions: SessionJson[] }>("sessions", "list", "--agent", delegate.id);
    assert.deepEqual(byDelegate.sessions.map((s) => s.session_id), [childId]);
    const active = await json<{ sessions: SessionJson[] }>("sessions", "list", "--status", "active", "--connection", connectionId);
    assert.equal(active.sessions.length, 2);
    const table = await ok("sessions", "list", "--connection", connectionId);
    assert.match(table, /^ID +AGENT +DELEGATED BY +WORKSPACE +STATUS +EXPIRES\n/);
    assert.match(table, new RegExp(`^${childId} +session-delegate +session-holder +frank +active +in 5 min$`, "m"));
    assert.match(table, new RegExp(`^${sessionId} +session-holder +- +frank +active +in 10 min$`, "m"));
    assert.ok(table.split("\n").every((l) => l.length <= 100), table);
  });

  it("revoke revokes the session and what was delegated from it", async () => {
    const run = await cli(["sessions", "revoke", sessionId]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, `Revoked session ${sessionId} and 1 session delegated from it.\n`);
    const revoked = await json<{ sessions: SessionJson[] }>("sessions", "list", "--connection", connectionId, "--status", "revoked");
    assert.deepEqual(revoked.sessions.map((s) => s.session_id).sort(), [childId, sessionId].sort());
    assert.deepEqual((await json<{ sessions: SessionJson[] }>("sessions", "list", "--connection", connectionId, "--status", "active")).sessions, []);
  });
});

describe("nexus audit", () => {
  let connectionId = "";
  before(async () => {
    const key = await keyOf("agents", "create", "audited-agent");
    connectionId = await connect(key, "grace");
    // Agent events are queued for up to 200 ms before they are written.
    await waitFor("agent.created of audited-agent", async () =>
      (await json<{ events: AuditJson[] }>("audit", "--type", "agent.created")).events.some((e) => e.details.agent_name === "audited-agent"));
  });

  it("filters by type, connection, agent, time and count; --json parses", async () => {
    const created = await json<{ events: AuditJson[] }>("audit", "--type", "agent.created", "--limit", "1000");
    assert.ok(created.events.length >= 5 && created.events.every((e) => e.event_type === "agent.created"));
    const ofConnection = await json<{ events: AuditJson[] }>("audit", "--connection", connectionId);
    assert.ok(ofConnection.events.length >= 2);
    assert.ok(ofConnection.events.every((e) => e.connection_id === connectionId));
    assert.ok(ofConnection.events.some((e) => e.event_type === "connection.started"));
    const agentId = ofConnection.events.find((e) => e.event_type === "connection.started")!.agent_id;
    assert.match(agentId, uuid);
    const byAgent = await json<{ events: AuditJson[] }>("audit", "--agent", agentId);
    assert.ok(byAgent.events.length >= 1 && byAgent.events.every((e) => e.agent_id === agentId));
    const two = await json<{ events: AuditJson[]; next_cursor: string }>("audit", "--limit", "2");
    assert.equal(two.events.length, 2);
    assert.notEqual(two.next_cursor, "");
    assert.deepEqual((await json<{ events: AuditJson[] }>("audit", "--since", "2999-01-01")).events, []);
    assert.ok((await json<{ events: AuditJson[] }>("audit", "--since", "1h")).events.length > 0);
    const bad = await cli(["audit", "--since", "yesterday"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--since <time>' argument 'yesterday' is invalid\. must be an RFC 3339 time/);
  });

  it("prints a table, oldest to newest, that fits 100 columns", async () => {
    const run = await cli(["audit", "--connection", connectionId]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^TIME \(UTC\) +EVENT +RESULT +PROVIDER +AGENT +CONNECTION$/);
    assert.match(lines[1]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +connection\\.started +ok +demo-api +audited-agent +${connectionId.slice(0, 8)}$`));
    assert.match(lines[2]!, / credential\.captured +ok +demo-api +- /);
    const times = lines.slice(1).map((l) => l.slice(0, 19));
    assert.deepEqual(times, [...times].sort(), "oldest to newest");
    assert.ok(lines.every((l) => l.length <= 100), run.stdout);
    const limited = await cli(["audit", "--limit", "1"]);
    assert.equal(limited.stderr, "Older events exist: raise --limit or set --since.\n");
  });

  it("--follow prints the newest page, then an event made after it started, until interrupted", async () => {
    const interrupt = new AbortController();
    let printed = "";
    const following = nexus(["audit", "--follow", "--type", "connection.revoked"], { env, interrupt: interrupt.signal, onStdout: (t) => (printed += t) });
    // It waits for events: nothing matched yet but the revocation of bob's connection earlier in this file.
    await waitFor("the first page", () => printed.includes("connection.revoked"));
    const before = printed.split("\n").filter((l) => l.includes("connection.revoked")).length;
    assert.ok(await ok("connections", "revoke", connectionId) === "");
    await waitFor("the new event", () => printed.includes(connectionId.slice(0, 8)), 10_000);
    interrupt.abort();
    const run = await following;
    runs.push({ argv: ["audit", "--follow"], run });
    assert.equal(run.code, 0, run.stderr);
    const rows = run.stdout.split("\n").filter((l) => l.includes("connection.revoked"));
    assert.equal(rows.length, before + 1, "the new event once");
    assert.equal(run.stdout.match(/^TIME \(UTC\)/gm)?.length, 1, "one header");
  });

  it("--follow waits out a Broker that stops answering, and goes on", async () => {
    let down = false;
    let refused = 0;
    const flaky: typeof fetch = (input, init) => {
      if (!down) return fetch(input, init);
      refused++;
      const cause = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1"), { code: "ECONNREFUSED" });
      return Promise.reject(new TypeError("fetch failed", { cause }));
    };
    const interrupt = new AbortController();
    let printed = "";
    const following = nexus(["audit", "-f", "--type", "agent.created", "--limit", "1"], {
      env, fetch: flaky, interrupt: interrupt.signal, onStdout: (t) => (printed += t),
    });
    await waitFor("the first page", () => printed.includes("agent.created"));
    down = true;
    await waitFor("a refused poll", () => refused >= 2, 10_000);
    await keyOf("agents", "create", "outage-agent");
    down = false;
    await waitFor("the event made during the outage", () => printed.includes("outage-agent"), 10_000);
    interrupt.abort();
    const run = await following;
    runs.push({ argv: ["audit", "-f"], run });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "The Broker did not answer (connection refused); trying again every second.\nThe Broker answers again.\n");
    const lines = run.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 3, run.stdout);
    assert.ok(lines.every((l) => l.length <= 100), run.stdout);
  });

  it("--follow --json prints one JSON object per line, each event once", async () => {
    const interrupt = new AbortController();
    let printed = "";
    const following = nexus(["audit", "--follow", "--json", "--type", "agent.created", "--limit", "3"], { env, interrupt: interrupt.signal, onStdout: (t) => (printed += t) });
    await waitFor("the first page", () => printed.split("\n").length >= 4);
    await keyOf("agents", "create", "followed-agent");
    await keyOf("agents", "create", "followed-agent-2");
    await waitFor("the new events", () => printed.includes("followed-agent-2"), 10_000);
    interrupt.abort();
    const run = await following;
    runs.push({ argv: ["audit", "--follow", "--json"], run });
    assert.equal(run.code, 0, run.stderr);
    const events = run.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as AuditJson);
    assert.equal(events.length, 5);
    assert.ok(events.every((e) => e.event_type === "agent.created"));
    assert.deepEqual(events.slice(3).map((e) => e.details.agent_name), ["followed-agent", "followed-agent-2"]);
    assert.equal(new Set(events.map((e) => e.id)).size, 5);
  });
});

describe("--json", () => {
  it("every data command's output parses, in the REST API's shape", async () => {
    const created = await json<{ agent: AgentJson; api_key: string }>("agents", "create", "json-agent");
    assert.equal(created.agent.name, "json-agent");
    assert.match(created.api_key, agentKeyPattern);
    runs.at(-1)!.printed = created.api_key;
    secrets.add(created.api_key);
    const disabled = await json<AgentJson>("agents", "disable", created.agent.id);
    assert.deepEqual([disabled.id, disabled.disabled], [created.agent.id, true]);
    const connectorKey = await keyOf("agents", "create", "json-connector");
    const connectionId = await connect(connectorKey, "heidi");
    const session = await gateway(connectorKey, "POST", "/v1/sessions", {
      connection_id: connectionId, agent_id: (await json<{ agents: AgentJson[] }>("agents", "list")).agents.find((a) => a.name === "json-connector")!.id,
    });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    secrets.add(session.body.session_token as string);
    const revokedSession = await json<{ session: SessionJson; revoked_count: number }>("sessions", "revoke", session.body.session_id as string);
    assert.deepEqual([revokedSession.session.status, revokedSession.revoked_count], ["revoked", 1]);
    const revoked = await json<{ connection: ConnectionJson }>("connections", "revoke", connectionId);
    assert.deepEqual([revoked.connection.id, revoked.connection.status], [connectionId, "revoked"]);
    const status = await json<{ ok: boolean; checks: unknown[] }>("doctor");
    assert.equal(status.checks.length, 5);
  });
});

describe("nexus doctor", () => {
  it("says OK to every check on a healthy stack", async () => {
    const run = await cli(["doctor"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const lines = run.stdout.trimEnd().split("\n");
    assert.deepEqual(lines.slice(0, 5).map((l) => l.split(/\s{2,}/).slice(0, 2)), [
      ["OK", "reachable"], ["OK", "admin key"], ["OK", "clock"], ["OK", "migrations"], ["OK", "key ring"],
    ]);
    assert.equal(lines.at(-1), "all checks passed.");
    const report = await json<{ ok: boolean; checks: { name: string; status: string }[] }>("doctor");
    assert.equal(report.ok, true);
    assert.ok(report.checks.every((c) => c.status === "ok"));
  });

  it("fails when the admin key is refused, and says how to fix it", async () => {
    const run = await cli(["doctor"], { env: { ...env, NEXUS_ADMIN_KEY: "not-the-key" } });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^OK {4}reachable {3}.*\nFAIL {2}admin key {3}the Broker refused the admin key\n {18}fix: set NEXUS_ADMIN_KEY/);
    assert.match(run.stdout, /1 check failed\.\n$/);
  });

  it("fails when the Broker is down", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const run = await cli(["doctor"], { env: { ...env, NEXUS_BROKER_URL: url } });
    assert.equal(run.code, 1);
    assert.match(run.stdout, new RegExp(`^FAIL {2}reachable {3}cannot reach ${url}: connection refused\\n {18}fix: check NEXUS_BROKER_URL`));
  });

  it("warns on a clock 30 s off and fails on one 5 min off", async () => {
    const warned = await cli(["doctor"], { clockOffsetMs: -90_000 });
    assert.equal(warned.code, 0);
    assert.match(warned.stdout, /^WARN {2}clock {7}the Broker's clock is 90 s ahead of this machine's\n {18}fix: .*NTP/m);
    const failed = await cli(["doctor"], { clockOffsetMs: 600_000 });
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /^FAIL {2}clock {7}the Broker's clock is 10 min behind this machine's/m);
  });

  it("fails on a quarantined row and on a migration not applied", async () => {
    await stack.db.sql`insert into vault_quarantine (kind, row_id, key_id, reason) values ('credential', 'x', 'primary', 'decrypt_failed')`;
    const [last] = await stack.db.sql<{ version: string; checksum: string }[]>`select version, checksum from schema_migrations order by version desc limit 1`;
    await stack.db.sql`delete from schema_migrations where version = ${last!.version}`;
    try {
      const run = await cli(["doctor"]);
      assert.equal(run.code, 1);
      assert.match(run.stdout, new RegExp(`^FAIL {2}migrations {2}1 of \\d+ not applied: ${last!.version}\\n {18}fix: run \`make migrate\``, "m"));
      assert.match(run.stdout, /^FAIL {2}key ring {4}1 stored secret could not be opened/m);
      assert.match(run.stdout, /2 checks failed\.\n$/);
    } finally {
      await stack.db.sql`delete from vault_quarantine where row_id = 'x'`;
      await stack.db.sql`insert into schema_migrations (version, checksum) values (${last!.version}, ${last!.checksum})`;
    }
    assert.equal((await cli(["doctor"])).code, 0);
  });
});

describe("errors: one line, exit 1", () => {
  it("a missing NEXUS_BROKER_URL or NEXUS_ADMIN_KEY", async () => {
    const neither = await nexus(["agents", "list"], { env: {} });
    assert.deepEqual([neither.code, neither.stdout], [1, ""]);
    assert.match(neither.stderr, /^nexus: NEXUS_BROKER_URL and NEXUS_ADMIN_KEY are not set: [^\n]*\n$/);
    const noKey = await nexus(["connections", "list"], { env: { NEXUS_BROKER_URL: stack.broker.url } });
    assert.deepEqual([noKey.code, noKey.stderr], [1, "nexus: NEXUS_ADMIN_KEY is not set: set it (or pass --admin-key) to one of the Broker's API_KEY values\n"]);
    const noUrl = await nexus(["doctor"], { env: { NEXUS_ADMIN_KEY: stack.adminKey } });
    assert.deepEqual([noUrl.code, noUrl.stderr], [1, "nexus: NEXUS_BROKER_URL is not set: set it (or pass --broker-url) to the Broker's URL, such as http://localhost:8080\n"]);
    // Flags stand in for the environment.
    const flags = await nexus(["--broker-url", stack.broker.url, "--admin-key", stack.adminKey, "agents", "list", "--json"], { env: {} });
    assert.equal(flags.code, 0, flags.stderr);
  });

  it("a refused admin key", async () => {
    for (const argv of [["agents", "list"], ["connections", "list"], ["sessions", "list"], ["audit"], ["agents", "create", "x"]]) {
      const run = await cli(argv, { env: { ...env, NEXUS_ADMIN_KEY: "wrong-key" } });
      assert.deepEqual([run.code, run.stdout, run.stderr], [1, "", "nexus: the Broker refused the admin key; check NEXUS_ADMIN_KEY\n"], argv.join(" "));
    }
  });

  it("an unreachable Broker, and a URL that is the Gateway's", async () => {
    const down = await cli(["agents", "list"], { env: { ...env, NEXUS_BROKER_URL: `http://127.0.0.1:${await freePort()}` } });
    assert.deepEqual([down.code, down.stderr], [1, "nexus: the Broker is not reachable (connection refused); check NEXUS_BROKER_URL and that the Broker is running\n"]);
    const gatewayUrl = await cli(["agents", "list"], { env: { ...env, NEXUS_BROKER_URL: stack.gateway.url } });
    assert.equal(gatewayUrl.code, 1);
    assert.equal(gatewayUrl.stderr, "nexus: NEXUS_BROKER_URL does not serve the Broker's admin API: is it the Gateway's URL? (the Broker listens on port 8080 by default)\n");
    const doctor = await cli(["doctor"], { env: { ...env, NEXUS_BROKER_URL: stack.gateway.url } });
    assert.equal(doctor.code, 1);
    assert.match(doctor.stdout, /^OK {4}reachable .*\nFAIL {2}admin key {3}this server has no Broker admin API \(StatusService\): it is not a Nexus Broker\n/);
  });
});

describe("bin/nexus.mjs", () => {
  /** Runs the real command as a child process. */
  function spawnNexus(args: string[], childEnv: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    const { PATH = "", HOME = "" } = process.env;
    return new Promise((resolve) => {
      execFile(process.execPath, ["bin/nexus.mjs", ...args], { cwd: root, env: { PATH, HOME, ...childEnv }, timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr });
      });
    });
  }

  it("runs as a process: --json on stdout, the exit code, the one-line error", async () => {
    const listed = await spawnNexus(["agents", "list", "--json"], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok((JSON.parse(listed.stdout) as { agents: AgentJson[] }).agents.some((a) => a.name === "billing-agent"));
    assert.ok(!listed.stdout.includes("\u001b["), "no colour when stdout is not a terminal");
    const missing = await spawnNexus(["doctor"], {});
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^nexus: NEXUS_BROKER_URL and NEXUS_ADMIN_KEY are not set/);
    runs.push({ argv: ["bin/nexus.mjs", "agents", "list", "--json"], run: { ...listed, output: listed.stdout + listed.stderr } });
  });
});

describe("secrets", () => {
  it("no output holds the admin key, an agent key or a credential, but the one key create or rotate-key printed", () => {
    assert.ok(runs.length > 40, `scanned ${runs.length} runs`);
    const leaks: string[] = [];
    for (const { argv, run, printed } of runs) {
      for (const secret of secrets) {
        const inStdout = run.stdout.split(secret).length - 1;
        if (run.stderr.includes(secret)) leaks.push(`nexus ${argv.join(" ")}: a secret on stderr`);
        if (inStdout > (secret === printed ? 1 : 0)) leaks.push(`nexus ${argv.join(" ")}: a secret on stdout`);
      }
    }
    assert.deepEqual(leaks, []);
  });
});
