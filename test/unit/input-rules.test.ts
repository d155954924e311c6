/**
 * One definition of each input rule (issue 20, item 3): the rules the
 * contract names ((nexus.common.v1.input_rule)) are applied by one walker
 * with the functions of src/shared/input-rules.ts, to every service of both
 * processes; the contract's description of each rule states the limits the
 * code enforces; and the manifest schema the CLI checks uses the same name rule.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { create, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { AgentService } from "../../gen/nexus/broker/v1/agent_service_pb.ts";
import { AuditService } from "../../gen/nexus/broker/v1/audit_service_pb.ts";
import { AuthorizationService } from "../../gen/nexus/broker/v1/authorization_service_pb.ts";
import { ConnectionService, ListConnectionsRequestSchema, StartConnectionRequestSchema } from "../../gen/nexus/broker/v1/connection_service_pb.ts";
import { ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { SessionService } from "../../gen/nexus/broker/v1/session_service_pb.ts";
import { StatusService } from "../../gen/nexus/broker/v1/status_service_pb.ts";
import { CaptureCredentialRequestSchema } from "../../gen/nexus/common/v1/capture_pb.ts";
import { InputRule, InputRuleSchema } from "../../gen/nexus/common/v1/input_rules_pb.ts";
import { CreateSessionRequestSchema } from "../../gen/nexus/common/v1/session_pb.ts";
import { GetTokenRequestSchema } from "../../gen/nexus/common/v1/token_pb.ts";
import { GatewayService, RequestConnectionRequestSchema } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { NexusError } from "../../src/shared/errors.ts";
import { checkInputRules, fieldsOwningControlCharacters, planFor } from "../../src/shared/input-rule-check.ts";
import { inputLimits, inputPatterns } from "../../src/shared/input-rules.ts";

const root = new URL("../../", import.meta.url).pathname;
const services: DescService[] = [GatewayService, ConnectionService, SessionService, ProviderService, AgentService, AuditService, AuthorizationService, StatusService];

/** The NexusError `run` throws, as [reason, field, message]. */
function refusal(run: () => unknown): [string, string | undefined, string] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof NexusError, String(error));
    return [error.reason, error.field, error.message];
  }
  return assert.fail("accepted");
}

function checked<T extends object>(schema: DescMessage, init: T): T {
  const message = create(schema, init as never) as unknown as T;
  checkInputRules(schema, message);
  return message;
}

describe("the contract's input rules", () => {
  it("every rule in the contract fits its field, on every method of both services", () => {
    let ruled = 0;
    for (const service of services) {
      for (const method of service.methods) ruled += planFor(method.input, new Set()).length;
    }
    assert.ok(ruled >= 25, `found ${ruled} fields with rules`);
  });

  it("the Gateway's RequestConnection and the Broker's StartConnection name the same rules, field for field", () => {
    const rules = (schema: DescMessage) => planFor(schema, new Set()).map((s) => [s.field.number, s.field.name.replace("user_id", "workspace_id"), s.required]);
    assert.deepEqual(rules(RequestConnectionRequestSchema), rules(StartConnectionRequestSchema));
  });

  it("reads values as the rules read them: UUIDs in lowercase, names trimmed, scopes and hosts without duplicates", () => {
    const id = crypto.randomUUID();
    assert.equal(checked(GetTokenRequestSchema, { connectionId: id.toUpperCase() }).connectionId, id);
    const start = checked(RequestConnectionRequestSchema, { userId: "w", providerName: " GitHub ", scopes: ["repo", "repo", "user"], returnUrl: "https://app.example.com/x" });
    assert.deepEqual([start.providerName, start.scopes], ["github", ["repo", "user"]]);
    const session = checked(CreateSessionRequestSchema, { spec: { connectionId: id, agentId: id, allowedHosts: ["API.example.com", "api.example.com."] } });
    assert.deepEqual(session.spec?.allowedHosts, ["api.example.com"]);
  });

  it("refuses with the rule's reason and the field's path, nested ones included", () => {
    assert.deepEqual(refusal(() => checked(GetTokenRequestSchema, { connectionId: "nope" })).slice(0, 2), ["invalid_argument", "connection_id"]);
    assert.deepEqual(refusal(() => checked(CreateSessionRequestSchema, { spec: { connectionId: crypto.randomUUID(), agentId: "x" } })).slice(0, 2), ["invalid_argument", "spec.agent_id"]);
    assert.deepEqual(refusal(() => checked(RequestConnectionRequestSchema, { userId: "w", returnUrl: "/back" })).slice(0, 2), ["return_url_rejected", "return_url"]);
    const credentials = { api_key: "x".repeat(inputLimits.credentialValueLength + 1) };
    assert.deepEqual(refusal(() => checked(CaptureCredentialRequestSchema, { state: "a.b.c", credentials })).slice(0, 2), ["credential_invalid", "credentials.api_key"]);
  });

  it("refuses an empty value only where the field is REQUIRED, with the rule's own reason", () => {
    assert.deepEqual(refusal(() => checked(GetTokenRequestSchema, {})).slice(0, 2), ["invalid_argument", "connection_id"]);
    assert.deepEqual(refusal(() => checked(CaptureCredentialRequestSchema, { credentials: { a: "b" } })).slice(0, 2), ["state_missing", "state"]);
    // Which credential fields are required is the provider's schema to say, further in.
    checked(CaptureCredentialRequestSchema, { state: "a.b.c", credentials: {} });
    // Optional filters: empty means "not given".
    checked(ListConnectionsRequestSchema, { workspaceId: "", providerName: "", pageSize: 0 });
    assert.deepEqual(refusal(() => checked(ListConnectionsRequestSchema, { pageSize: inputLimits.pageSize.max + 1 })).slice(0, 2), ["invalid_argument", "page_size"]);
  });

  it("applies each limit at its edge, not one before", () => {
    const edge = (rule: (n: number) => object, schema: DescMessage, limit: number) => {
      checked(schema, rule(limit));
      assert.throws(() => checked(schema, rule(limit + 1)), NexusError, `${schema.typeName} at ${limit + 1}`);
    };
    edge((n) => ({ workspaceId: "w".repeat(n) }), ListConnectionsRequestSchema, inputLimits.workspaceIdLength);
    edge((n) => ({ userId: "w", providerName: "p", scopes: Array.from({ length: n }, (_, i) => `s${i}`), returnUrl: "https://a.example/" }), RequestConnectionRequestSchema, inputLimits.scopes);
    edge((n) => ({ userId: "w", providerName: "p", scopes: ["s".repeat(n)], returnUrl: "https://a.example/" }), RequestConnectionRequestSchema, inputLimits.scopeLength);
    edge((n) => ({ userId: "w", providerName: "p".repeat(n), returnUrl: "https://a.example/" }), RequestConnectionRequestSchema, inputLimits.nameLength);
    edge((n) => ({ userId: "w", providerName: "p", returnUrl: `https://a.example/${"x".repeat(n - 18)}` }), RequestConnectionRequestSchema, inputLimits.returnUrlLength);
    edge((n) => ({ state: `${"a".repeat(n - 4)}.b.c`, credentials: { a: "b" } }), CaptureCredentialRequestSchema, inputLimits.stateLength);
    edge((n) => ({ state: "a.b.c", credentials: Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, "v"])) }), CaptureCredentialRequestSchema, inputLimits.credentialFields);
  });

  it("lets the control-character scan leave fields whose rule refuses them with a reason of its own", () => {
    assert.deepEqual([...fieldsOwningControlCharacters(CaptureCredentialRequestSchema)], ["nexus.common.v1.CaptureCredentialRequest.credentials"]);
    assert.deepEqual([...fieldsOwningControlCharacters(StartConnectionRequestSchema)], ["nexus.broker.v1.StartConnectionRequest.return_url"]);
  });

  it("describes each rule in the contract with the limits the code applies", () => {
    const lines = readFileSync(`${root}proto/nexus/common/v1/input_rules.proto`, "utf8").split("\n");
    /** The `//` lines right above the enum value. */
    const comment = (rule: InputRule) => {
      const at = lines.findIndex((l) => l.trim().startsWith(`${InputRuleSchema.value[rule]!.name} =`));
      let first = at;
      while (first > 0 && lines[first - 1]!.trim().startsWith("//")) first--;
      assert.ok(at > first, `${InputRuleSchema.value[rule]!.name} has a comment`);
      return lines.slice(first, at).map((l) => l.trim().replace(/^\/\/\s*/, "")).join(" ");
    };
    const stated: [InputRule, number[]][] = [
      [InputRule.WORKSPACE_ID, [inputLimits.workspaceIdLength]],
      [InputRule.PROVIDER_NAME, [inputLimits.nameLength]],
      [InputRule.SCOPES, [inputLimits.scopes, inputLimits.scopeLength]],
      [InputRule.RETURN_URL, [inputLimits.returnUrlLength]],
      [InputRule.STATE, [inputLimits.stateLength]],
      [InputRule.CREDENTIALS, [inputLimits.credentialFields, inputLimits.credentialValueLength]],
      [InputRule.PAGE_SIZE, [inputLimits.pageSize.default, inputLimits.pageSize.max]],
      [InputRule.HOSTS, [inputLimits.allowedHosts]],
    ];
    for (const [rule, numbers] of stated) {
      for (const n of numbers) assert.match(comment(rule), new RegExp(`\\b${n}\\b`), `${InputRuleSchema.value[rule]!.name} states ${n}`);
    }
  });

  it("the manifest schema the CLI checks has the same name rule", () => {
    const schema = JSON.parse(readFileSync(`${root}schemas/manifest.v1.schema.json`, "utf8")) as { $defs: { name: { pattern: string; maxLength: number } } };
    assert.deepEqual(schema.$defs.name, { type: "string", pattern: inputPatterns.name.source, maxLength: inputLimits.nameLength });
  });
});
