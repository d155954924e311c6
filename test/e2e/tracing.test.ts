/**
 * OpenTelemetry tracing end to end: with OTEL_EXPORTER_OTLP_ENDPOINT set
 * (http/json, so the test reads what is exported), one agent GetToken that
 * refreshes an expired token is one trace, continuing the agent's
 * traceparent, with spans from the Gateway and the Broker, the SQL, and the
 * call to the provider; and nothing exported holds a secret.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { brokerRest, deliverCallback, registerProvider } from "../support/broker-api.ts";
import { type FakeProvider, startFakeProvider } from "../support/fake-provider.ts";
import { startStack, type TestStack } from "../support/stack.ts";

interface OtlpAttribute { key: string; value: { stringValue?: string; intValue?: number | string; boolValue?: boolean } }
interface OtlpSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes: OtlpAttribute[] }
interface OtlpExport { resourceSpans: { resource: { attributes: OtlpAttribute[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] }

/** A span with its service's name and attributes as a plain object. */
interface SeenSpan extends OtlpSpan { service: string; attrs: Record<string, unknown> }

/** A minimal OTLP/HTTP receiver: keeps every JSON body POSTed to /v1/traces. */
async function startReceiver(): Promise<{ url: string; bodies: string[]; server: Server }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") bodies.push(body);
      res.writeHead(req.url === "/v1/traces" ? 200 : 404, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, bodies, server };
}

function spansOf(bodies: readonly string[]): SeenSpan[] {
  const out: SeenSpan[] = [];
  for (const body of bodies) {
    for (const rs of (JSON.parse(body) as OtlpExport).resourceSpans) {
      const service = String(rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue);
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          const attrs = Object.fromEntries(span.attributes.map((a) => [a.key, a.value.stringValue ?? a.value.intValue ?? a.value.boolValue]));
          out.push({ ...span, service, attrs });
        }
      }
    }
  }
  return out;
}

describe("OpenTelemetry tracing over OTLP/HTTP", () => {
  let fake: FakeProvider;
  let stack: TestStack;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const providerCalls: { path: string; traceparent: string | null }[] = [];
  const providerAnswers: string[] = [];
  let closed = false;

  before(async () => {
    fake = await startFakeProvider();
    receiver = await startReceiver();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" };
    const recording: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      providerCalls.push({ path: url.pathname, traceparent: new Headers(init?.headers).get("traceparent") });
      const res = await fetch(input, init);
      providerAnswers.push(await res.clone().text());
      return res;
    };
    stack = await startStack({ fetch: recording, brokerEnv: { ...otel, OTEL_SERVICE_NAME: "test-broker", TOKEN_CACHE_SECONDS: "0" }, gatewayEnv: { ...otel, OTEL_SERVICE_NAME: "test-gateway" } });
  });
  after(async () => {
    if (!closed) await stack?.close();
    await fake?.close();
    receiver?.server.close();
  });

  it("makes one trace of an agent's GetToken that refreshes: both services, the SQL and the provider call; no secret in any span", async () => {
    await registerProvider(stack, {
      name: "traced", auth_type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, issuer: fake.issuer, enable_discovery: true, scopes: ["openid"],
    });
    const started = await brokerRest(stack, "POST", "/connections", { workspace_id: "ws-trace", provider_name: "traced", return_url: "https://app.example.com/" });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const callback = await deliverCallback(stack, fake.authorize(started.body.auth_url as string));
    assert.equal(new URL(callback.headers.get("location")!).searchParams.get("status"), "success");
    const connectionId = started.body.connection_id as string;
    // Expired and left to the agent's call: the background loop does not take it first (and no token cache answers for it); issued long enough ago that a refresh may run.
    await stack.db.sql`update credentials set expires_at = now() - interval '1 minute', refreshed_at = now() - interval '2 minutes', refresh_due_at = null where connection_id = ${connectionId}`;

    const traceId = randomBytes(16).toString("hex");
    const agentSpanId = randomBytes(8).toString("hex");
    const res = await fetch(`${stack.gateway.url}/v1/token/${connectionId}`, {
      headers: { authorization: `Bearer ${stack.agentKey}`, traceparent: `00-${traceId}-${agentSpanId}-01` },
    });
    const body = (await res.json()) as { credential?: { access_token?: string } };
    assert.equal(res.status, 200, JSON.stringify(body));
    const refreshes = providerCalls.filter((c) => c.path.endsWith("/token"));
    assert.equal(fake.seen.filter((s) => s.grantType === "refresh_token").length, 1, "the call refreshed");
    // The provider was called inside the trace, with the trace context.
    assert.equal(refreshes.at(-1)?.traceparent?.split("-")[1], traceId);

    closed = true;
    await stack.close(); // flushes both services' exporters
    const spans = spansOf(receiver.bodies);
    const trace = spans.filter((s) => s.traceId === traceId);
    const names = trace.map((s) => `${s.service} ${s.name}`);
    const gatewayServer = trace.find((s) => s.service === "test-gateway" && s.kind === 2);
    assert.equal(gatewayServer?.name, "nexus.gateway.v1.GatewayService/GetToken", names.join("\n"));
    assert.equal(gatewayServer.parentSpanId, agentSpanId, "continues the agent's traceparent");
    const toBroker = trace.find((s) => s.service === "test-gateway" && s.kind === 3 && s.name === "nexus.broker.v1.ConnectionService/GetToken");
    assert.equal(toBroker?.parentSpanId, gatewayServer.spanId, names.join("\n"));
    const brokerServer = trace.find((s) => s.service === "test-broker" && s.kind === 2);
    assert.equal(brokerServer?.name, "nexus.broker.v1.ConnectionService/GetToken", names.join("\n"));
    assert.equal(brokerServer.parentSpanId, toBroker.spanId);
    const sql = trace.filter((s) => s.service === "test-broker" && s.attrs["db.system.name"] === "postgresql");
    assert.ok(sql.length >= 1, names.join("\n"));
    assert.ok(sql.some((s) => s.name.startsWith("db connections.")), names.join("\n"));
    const provider = trace.find((s) => s.service === "test-broker" && s.attrs["url.full"] === `${fake.issuer.replace(/\/$/, "")}/token`);
    assert.ok(provider !== undefined, names.join("\n"));
    assert.equal(provider.attrs["http.response.status_code"], 200);
    // Every span of the trace hangs from the agent's span through spans of the trace.
    const ids = new Set(trace.map((s) => s.spanId));
    for (const s of trace) assert.ok(s.parentSpanId === agentSpanId || ids.has(s.parentSpanId!), `${s.name} is orphaned`);

    const secrets = [fake.clientSecret, stack.adminKey, stack.agentKey, stack.brokerEnv.ENCRYPTION_KEY!, stack.brokerEnv.STATE_KEY!, body.credential?.access_token ?? "missing"];
    for (const answer of providerAnswers) {
      for (const field of ["access_token", "refresh_token", "id_token"]) {
        const value = (JSON.parse(answer.startsWith("{") ? answer : "{}") as Record<string, unknown>)[field];
        if (typeof value === "string") secrets.push(value);
      }
    }
    for (const seen of fake.seen) secrets.push(...[seen.params.get("refresh_token"), seen.params.get("code"), seen.params.get("code_verifier")].filter((v): v is string => v !== null));
    assert.ok(secrets.length >= 8);
    const exported = receiver.bodies.join("\n");
    for (const secret of secrets) assert.ok(!exported.includes(secret), `a secret was exported (${secret.slice(0, 6)}...)`);
  });
});
