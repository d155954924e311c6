/**
 * docs/sessions.md works as written: the curl walkthrough runs in one bash, in
 * order, against a stack set up as `make run` sets it up; then the TypeScript
 * example, saved in the checkout as the page says, runs with `npx tsx` and the
 * variables of the walkthrough exported; then the narrowing PATCH.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { docsBlock, type DocsStack, runBash, startDocsStack } from "../support/docs-stack.ts";

const page = "docs/sessions.md";
const steps = ["sessions-setup", "sessions-delegate", "sessions-exchange", "sessions-child", "sessions-revoke"];
const root = new URL("../../", import.meta.url).pathname;
// Inside the checkout (so `@nexus-broker/client` resolves to src/client through tsconfig.json, as for the reader) and git-ignored.
const scratch = `.nexus/docs-test-${process.pid}`;

/** The output of each marked step, by name (the script echoes a marker before each). */
function split(out: string, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name, i) => [name, out.split(`---${name}---\n`)[1]!.split(`---${names[i + 1]}---`)[0]!]));
}

describe("docs/sessions.md", () => {
  let docs: DocsStack;
  before(async () => {
    docs = await startDocsStack();
    mkdirSync(`${root}${scratch}`, { recursive: true });
  });
  after(async () => {
    rmSync(`${root}${scratch}`, { recursive: true, force: true });
    await docs.close();
  });

  it("the curl walkthrough, then the TypeScript example, then turning narrowing on", async () => {
    const names = [...steps, "sessions-typescript", "sessions-narrow"];
    const script = [
      ...steps.map((name) => `echo "---${name}---"\n${docsBlock(page, name)}`),
      // As the page says: save the example as delegate.ts in the checkout, export the variables, run it.
      `echo "---sessions-typescript---"\ncat > ${scratch}/delegate.ts <<'NEXUS_EOF'\n${docsBlock(page, "sessions-typescript", "ts")}NEXUS_EOF`,
      "export GATEWAY AGENT_KEY SUB_ID SUB_KEY CONNECTION_ID SANDBOX_API",
      `npx tsx ${scratch}/delegate.ts`,
      `echo "---sessions-narrow---"\n${docsBlock(page, "sessions-narrow")}`,
    ].join("\n");
    const part = split(await runBash(script, docs.env, 150_000), names);

    assert.match(part["sessions-setup"]!, /^\{"connection_id":"[0-9a-f-]{36}","status":"active"\}$/m);

    const [issuedLine, infoLine] = part["sessions-delegate"]!.trim().split("\n");
    const issued = JSON.parse(issuedLine!) as Record<string, unknown>;
    assert.deepEqual([issued.scopes, issued.parent_session_id, issued.allowed_hosts], [[], "", ["127.0.0.1"]]);
    const info = JSON.parse(infoLine!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(info), ["session_id", "connection_id", "agent_id", "scopes", "allowed_hosts", "expires_at", "status", "parent_session_id", "delegated_by_agent_id", "workspace_id"]);
    assert.deepEqual([info.session_id, info.status, info.workspace_id], [issued.session_id, "active", "alice"]);

    const [exchangeLine, meLine, notYours, tooWide] = part["sessions-exchange"]!.trim().split("\n");
    const exchanged = JSON.parse(exchangeLine!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(exchanged), ["access_token", "issued_token_type", "token_type", "expires_in", "scope", "credential"]);
    assert.deepEqual([exchanged.access_token, exchanged.token_type, exchanged.scope], ["sk_sandbox_demo", "N_A", ""]);
    assert.ok(Number(exchanged.expires_in) > 890 && Number(exchanged.expires_in) <= 900);
    assert.deepEqual((exchanged.credential as { strategy: unknown }).strategy, { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key", allowed_hosts: "127.0.0.1" } });
    assert.equal(meLine, '{"user":"sandbox-user","plan":"free"}');
    assert.equal(notYours, '{"error":"invalid_grant","error_description":"this session token was given to another agent; only that agent may exchange it"}');
    assert.equal(tooWide, '{"error":"invalid_scope","error_description":"scope \\"admin\\" is outside the session\'s clearance"}');

    const [childLine, outlive, wider, claimsLine] = part["sessions-child"]!.trim().split("\n");
    const child = JSON.parse(childLine!) as Record<string, unknown>;
    assert.deepEqual([child.parent_session_id, child.allowed_hosts], [issued.session_id, ["127.0.0.1"]]);
    assert.match(outlive!, /^\{"code":"invalid_argument","message":"invalid_argument: ttl_seconds: the session would outlive its parent, which expires at /);
    assert.match(wider!, /^\{"code":"permission_denied","message":"invalid_scope: allowed host \\"api\.example\.com\\" is outside the parent session's hosts"/);
    const claims = JSON.parse(claimsLine!) as { act: { sub: string; act: { sub: string; act: { sub: string; act?: unknown } } }; sub: string; iss: string; scope: string };
    assert.deepEqual(Object.keys(claims), ["scope", "act", "nexus_connection_id", "iss", "sub", "jti", "iat", "exp"]);
    assert.deepEqual([claims.sub, claims.iss, claims.scope], ["alice", docs.gatewayUrl, ""]);
    assert.equal(claims.act.act.sub, info.agent_id, "the sub-agent delegated the child");
    assert.equal(claims.act.act.act.sub, info.delegated_by_agent_id, "dev-agent delegated the root");
    assert.equal(claims.act.act.act.act, undefined);

    const revoked = "{\"error\":\"invalid_grant\",\"error_description\":\"the session is revoked (or one it was delegated from)\"}";
    assert.deepEqual(part["sessions-revoke"]!.trim().split("\n"), ["revoked", revoked, revoked]);

    const printed = part["sessions-typescript"]!.trim().split("\n");
    assert.match(printed[0]!, /^delegated [0-9a-f-]{36} 127\.0\.0\.1$/);
    assert.deepEqual(printed.slice(1), ['allowed host 200 {"user":"sandbox-user","plan":"free"}', "other host host_not_allowed", "after revoke invalid_grant"]);

    const params = JSON.parse(part["sessions-narrow"]!) as Record<string, unknown>;
    assert.deepEqual([params.narrow_scopes_on_refresh, params.authorize_params], [true, { prompt: "consent" }], "the other params stayed");
  });
});
