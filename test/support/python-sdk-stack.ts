/**
 * What the Python SDK's tests run against: a real Broker and Gateway (no
 * AGENT_API_KEYS, registered agents only, as `make run`), the test IdP as an
 * OAuth provider with a consented connection, a static provider per strategy
 * with a captured connection each, and the `make run` sandbox (its `sandbox-api`
 * service is what docs/agents-python.md calls). `env` tells the Python tests
 * all of it; tests/live.py in sdk/python reads it.
 */
import { randomBytes } from "node:crypto";
import { type Sandbox, startSandbox } from "../../src/runtime/node/sandbox/start-sandbox.ts";
import { registerAgent } from "./agents.ts";
import { type ClientStack, connectOAuth, connectStatic, registerIdp, registerStatic, startClientStack } from "./client-stack.ts";
import { startTestIdp, type TestIdp } from "./test-idp.ts";

/** A running stack and the environment that describes it to Python. */
export interface PythonSdkStack {
  readonly stack: ClientStack;
  readonly idp: TestIdp;
  readonly sandbox: Sandbox;
  /** NEXUS_TEST_* for the SDK's tests, and NEXUS_GATEWAY_URL / NEXUS_AGENT_KEY / SANDBOX_API for the docs example. */
  readonly env: Record<string, string>;
  /** Every secret the connections hold, for leak checks. */
  readonly secrets: Record<string, string>;
  close(): Promise<void>;
}

const workspace = "ws-python";

/** Starts everything and makes the connections; close() stops it all. */
export async function startPythonSdkStack(): Promise<PythonSdkStack> {
  const idp = await startTestIdp({ clients: [{ client_id: "agent-app", client_secret: "s3cret", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }] });
  const stack = await startClientStack();
  const sandbox = await startSandbox({ port: 0, brokerBaseUrl: "http://127.0.0.1:1", broker: { url: stack.admin.broker.url, apiKey: stack.adminKey } });
  const secrets = {
    header: `hk_${randomBytes(8).toString("hex")}`,
    query: `qk_${randomBytes(8).toString("hex")}`,
    user: "zoë@example.com",
    password: `pä ss:${randomBytes(4).toString("hex")}`,
    hmac256: `hs_${randomBytes(12).toString("hex")}`,
    hmac1: `h1_${randomBytes(12).toString("hex")}`,
    awsAccess: `AKIA${randomBytes(8).toString("hex").toUpperCase()}`,
    awsSecret: randomBytes(30).toString("base64"),
    awsSession: `session/${randomBytes(20).toString("base64")}`,
    crm: `sk_crm_${randomBytes(8).toString("hex")}`,
  };
  await registerIdp(stack, idp, "idp", "agent-app", "s3cret");
  await registerStatic(stack, "acme-header", "header", { type: "header", config: { header_name: "X-Acme-Key", value_prefix: "Token ", credential_field: "api_key" } }, ["api_key"]);
  await registerStatic(stack, "acme-query", "query_param", { type: "query_param", config: { param_name: "key", credential_field: "api_key" } }, ["api_key"]);
  await registerStatic(stack, "acme-basic", "basic_auth", { type: "basic_auth", config: { username_field: "login", password_field: "pass" } }, ["login", "pass"]);
  await registerStatic(stack, "acme-hmac", "hmac_payload", { type: "hmac_payload", config: { header_name: "X-Signature", secret_field: "api_secret", algo: "sha256", encoding: "hex" } }, ["api_secret"]);
  await registerStatic(stack, "acme-hmac-sha1", "hmac_payload", { type: "hmac_payload", config: { header_name: "X-Hub-Signature", secret_field: "signing_secret", algo: "sha1", encoding: "base64" } }, ["signing_secret"]);
  await registerStatic(stack, "acme-aws", "aws_sigv4", { type: "aws_sigv4", config: { service: "execute-api", region: "eu-west-1" } }, ["access_key", "secret_key", "session_token"]);
  await registerStatic(stack, "crm", "api_key", { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } }, ["api_key"]);
  const connections = {
    oauth: await connectOAuth(stack, idp, "idp", workspace),
    header: await connectStatic(stack, "acme-header", workspace, { api_key: secrets.header }),
    query: await connectStatic(stack, "acme-query", workspace, { api_key: secrets.query }),
    basic: await connectStatic(stack, "acme-basic", workspace, { login: secrets.user, pass: secrets.password }),
    hmac256: await connectStatic(stack, "acme-hmac", workspace, { api_secret: secrets.hmac256 }),
    hmac1: await connectStatic(stack, "acme-hmac-sha1", workspace, { signing_secret: secrets.hmac1 }),
    aws: await connectStatic(stack, "acme-aws", workspace, { access_key: secrets.awsAccess, secret_key: secrets.awsSecret, session_token: secrets.awsSession }),
    crm: await connectStatic(stack, "crm", workspace, { api_key: secrets.crm }),
  };
  const sub = await registerAgent(stack.admin.broker.url, stack.adminKey, { name: "python-sub-agent" });
  const other = await registerAgent(stack.admin.broker.url, stack.adminKey, { name: "python-other-agent" });
  const env = {
    NEXUS_TEST_GATEWAY_URL: stack.gatewayUrl,
    // Only for its /metrics: the Broker's own count of credential reads, which the SDK cannot fake.
    NEXUS_TEST_BROKER_URL: stack.admin.broker.url,
    NEXUS_TEST_AGENT_KEY: stack.agentKey,
    NEXUS_TEST_AGENT_ID: stack.agentId,
    NEXUS_TEST_SUB_AGENT_KEY: sub.apiKey,
    NEXUS_TEST_SUB_AGENT_ID: sub.id,
    NEXUS_TEST_OTHER_AGENT_KEY: other.apiKey,
    NEXUS_TEST_OTHER_AGENT_ID: other.id,
    NEXUS_TEST_IDP_ISSUER: idp.issuer,
    NEXUS_TEST_SANDBOX_API: sandbox.apiUrl,
    NEXUS_TEST_FIXTURE: JSON.stringify({ workspace, connections, secrets }),
    NEXUS_GATEWAY_URL: stack.gatewayUrl,
    NEXUS_AGENT_KEY: stack.agentKey,
    SANDBOX_API: sandbox.apiUrl,
  };
  return {
    stack, idp, sandbox, env, secrets,
    async close() {
      await sandbox.close();
      await stack.close();
      await idp.close();
    },
  };
}
