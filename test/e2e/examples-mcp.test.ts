/**
 * docs/mcp.md works as written: its marked blocks run in one bash, in order,
 * against a stack set up as `make run` sets it up (dev-agent, the sandbox
 * providers, GATEWAY_PUBLIC_URL the Gateway's real URL). The example tool
 * server in examples/mcp-tool-server/ starts from the page's own command.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { brokerRest } from "../support/broker-api.ts";
import { docsBlock, type DocsStack, runBash, startDocsStack } from "../support/docs-stack.ts";
import { freePort } from "../support/free-port.ts";

const page = "docs/mcp.md";
const steps = ["mcp-register", "mcp-start", "mcp-connect", "mcp-delegate", "mcp-call", "mcp-revoke"];

describe("docs/mcp.md and examples/mcp-tool-server", () => {
  let docs: DocsStack;
  before(async () => {
    docs = await startDocsStack({ TOOL_PORT: String(await freePort()) });
  });
  after(() => docs.close());

  it("registers the tool agent, delegates to it, the tool reads the profile, and stops at 401 once the session is revoked", async () => {
    const script = steps.map((name) => `echo "---${name}---"\n${docsBlock(page, name)}`).join("\n");
    const out = await runBash(script, docs.env, 120_000);
    const part = Object.fromEntries(steps.map((name, i) => [name, out.split(`---${name}---\n`)[1]!.split(`---${steps[i + 1]}---`)[0]!]));

    const toolAgentId = /^tool agent ([0-9a-f-]{36})$/m.exec(part["mcp-register"]!)?.[1];
    assert.ok(toolAgentId, part["mcp-register"]);
    assert.match(part["mcp-connect"]!, /^\{"connection_id":"[0-9a-f-]{36}","status":"active"\}$/m);
    const issued = JSON.parse(part["mcp-delegate"]!.trim()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(issued).sort(), ["allowed_hosts", "expires_at", "parent_session_id", "scopes", "session_id", "session_token"]);
    assert.deepEqual(issued.allowed_hosts, ["127.0.0.1"]);

    const [list, call, refusal] = part["mcp-call"]!.trim().split("\n");
    assert.deepEqual(JSON.parse(list!).result.tools.map((t: { name: string }) => t.name), ["get_profile"]);
    assert.equal(call, '{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"{\\"user\\":\\"sandbox-user\\",\\"plan\\":\\"free\\"}"}],"isError":false}}');
    assert.equal(refusal, '{"error":"invalid_token","error_description":"the session token was refused: Invalid Compact JWS"} 401');

    const [revoked, after] = part["mcp-revoke"]!.trim().split("\n");
    assert.equal(revoked, "revoked 200");
    assert.equal(after, '{"error":"invalid_token","error_description":"invalid_grant: the session is revoked (or one it was delegated from)"} 401');

    // What the page says the audit log holds: the delegation, and the tool's use of it for alice with the chain.
    const audit = await brokerRest(docs.stack, "GET", `/audit?agent_id=${toolAgentId}`);
    const events = (audit.body.events as { event_type: string; outcome: string; details?: Record<string, unknown> }[]) ?? [];
    const exchanged = events.find((e) => e.event_type === "session.exchanged");
    assert.ok(exchanged, JSON.stringify(audit.body).slice(0, 500));
    assert.equal(exchanged.details?.workspace_id, "alice");
    assert.match(String(exchanged.details?.chain), new RegExp(`^${toolAgentId},[0-9a-f-]{36}$`));
    assert.ok(events.some((e) => e.event_type === "session.exchange_refused"), "the refused exchange after revocation is audited too");
  });
});
