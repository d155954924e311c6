/**
 * docs/deploy.md, tried: the committed nginx and Caddy configurations (deploy/) terminate TLS in front of a
 * real Broker and Gateway configured from deploy/systemd/*.env.example, and every protocol goes through:
 * gRPC and Connect over HTTP/2, gRPC-Web and REST over HTTP/1.1, on the public port (the Gateway and the
 * Broker's two browser routes) and on the admin port (the Broker). What must stay private does.
 * Needs Debian's nginx and caddy: scripts/ensure-deploy-tools.sh installs them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { StatusService } from "../../gen/nexus/broker/v1/status_service_pb.ts";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { readEnvFile } from "../support/env-file.ts";
import { type ProtocolRelay, startProtocolRelay } from "../support/protocol-relay.ts";
import { httpsCall, plainHttpAnswer, proxyTransports, publicHost } from "../support/proxy-clients.ts";
import { caddyBin, type RunningProxy, startCaddy, startNginx } from "../support/reverse-proxies.ts";
import { startStack, type TestStack } from "../support/stack.ts";

const root = new URL("../../", import.meta.url).pathname;

/** An example's settings but those naming its own database, Broker and ports; the stack adds its own, and the keys. */
function exampleEnv(file: string, drop: readonly string[]): Record<string, string> {
  const env = readEnvFile(`${root}deploy/systemd/${file}`);
  return Object.fromEntries(Object.entries(env).filter(([k]) => !drop.includes(k)));
}

describe("deploy/: nginx and Caddy in front of a Broker and a Gateway configured as the examples say", () => {
  let stack: TestStack;

  before(async () => {
    stack = await startStack({
      brokerEnv: exampleEnv("broker.env.example", ["DATABASE_URL", "BROKER_PORT"]),
      gatewayEnv: exampleEnv("gateway.env.example", ["BROKER_URL", "GATEWAY_PORT"]),
    });
  });
  after(async () => {
    await stack?.close();
  });

  for (const [name, start] of [["nginx", startNginx], ["caddy", startCaddy]] as const) {
    describe(name, () => {
      let proxy: RunningProxy;
      let agentKey: string;
      const provider = `deploy-${name}`;
      const apiKey = `sk_${name}_${randomBytes(8).toString("hex")}`;
      let connectionId: string;

      // The proxy reaches each service through a relay that notes the protocol of every connection.
      let relays: { gateway: ProtocolRelay; broker: ProtocolRelay };

      before(async () => {
        relays = { gateway: await startProtocolRelay(stack.gateway.port), broker: await startProtocolRelay(stack.broker.port) };
        proxy = await start({ gatewayPort: relays.gateway.port, brokerPort: relays.broker.port });
      });
      after(async () => {
        await proxy?.close();
        await relays?.gateway.close();
        await relays?.broker.close();
      });

      it("accepts the committed configuration", () => {
        assert.match(proxy.checked, name === "nginx" ? /test is successful/ : /Valid configuration/);
        if (name === "caddy") {
          const formatted = spawnSync(caddyBin, ["fmt", `${root}deploy/caddy/Caddyfile`], { encoding: "utf8" });
          assert.equal(formatted.stdout, readFileSync(`${root}deploy/caddy/Caddyfile`, "utf8"), "the Caddyfile is as caddy fmt writes it");
        }
      });

      it("admin port: the Broker's API over REST (HTTP/1.1), gRPC and Connect (HTTP/2)", async () => {
        const admin = { "x-api-key": stack.adminKey };
        const created = await httpsCall(proxy.admin, "POST", "/providers", {
          headers: admin, json: { profile: { name: provider, auth_type: "api_key" } },
        });
        assert.equal(created.status, 201, created.body);
        const agent = await httpsCall(proxy.admin, "POST", "/agents", {
          headers: admin, json: { agent: { name: `agent-${name}`, allowed_providers: [provider] } },
        });
        assert.equal(agent.status, 201, agent.body);
        agentKey = agent.json<{ api_key: string }>().api_key;

        const { grpc, connect } = proxyTransports(proxy.admin);
        const found = await createClient(ProviderService, grpc).getProviderByName({ name: provider }, { headers: admin });
        assert.equal(found.provider?.name, provider);
        const status = await createClient(StatusService, connect).getStatus({}, { headers: admin });
        assert.equal(status.databaseReachable, true);
        await assert.rejects(createClient(ProviderService, grpc).listProviders({}),
          (e: unknown) => ConnectError.from(e).code === Code.Unauthenticated, "the admin port still needs the Broker's API key");
      });

      it("public port: a connection made over REST, the Broker's capture page, the credential over gRPC, gRPC-Web and Connect", async () => {
        const agent = { authorization: `Bearer ${agentKey}` };
        const started = await httpsCall(proxy.public, "POST", "/v1/request-connection", {
          headers: agent, json: { user_id: `user-${name}`, provider_name: provider, return_url: "https://app.example.com/done" },
        });
        assert.equal(started.status, 200, started.body);
        const { auth_url: authUrl, connection_id: id, state } = started.json<{ auth_url: string; connection_id: string; state: string }>();
        connectionId = id;
        // BASE_URL is the public address: the capture page is served through the proxy, by the Broker.
        const link = new URL(authUrl);
        assert.equal(`${link.origin}${link.pathname}`, `https://${publicHost}/auth/capture`);
        const page = await httpsCall(proxy.public, "GET", `${link.pathname}${link.search}`);
        assert.equal(page.status, 200, page.body);
        assert.match(String(page.headers["content-type"]), /^text\/html/);
        assert.match(page.body, /<form[^>]*action="\/auth\/capture"/);
        const captured = await httpsCall(proxy.public, "POST", "/v1/capture-credential", { json: { state, credentials: { api_key: apiKey } } });
        assert.equal(captured.json<{ status: string }>().status, "active", captured.body);

        const { grpc, grpcWeb, connect } = proxyTransports(proxy.public);
        const viaGrpc = await createClient(GatewayService, grpc).getToken({ connectionId }, { headers: agent });
        assert.equal(viaGrpc.credential?.credentials.api_key, apiKey);
        const viaGrpcWeb = await createClient(GatewayService, grpcWeb)
          .resolveToken({ workspaceId: `user-${name}`, providerName: provider }, { headers: agent });
        assert.equal(viaGrpcWeb.credential?.credentials.api_key, apiKey);
        const viaConnect = await createClient(GatewayService, connect).checkConnection({ connectionId }, { headers: agent });
        assert.equal(viaConnect.status, "active");
      });

      it("public port: the OAuth redirect URI reaches the Broker, and browsers from a listed origin may call", async () => {
        const callback = await httpsCall(proxy.public, "GET", "/auth/callback?state=forged&code=x");
        assert.equal(callback.status, 400);
        assert.match(callback.body, /This link is not valid/);
        const metadata = await httpsCall(proxy.public, "GET", "/.well-known/oauth-authorization-server");
        assert.equal(metadata.json<{ issuer: string }>().issuer, `https://${publicHost}`, "GATEWAY_PUBLIC_URL is the public address");
        for (const origin of [`https://${publicHost}`, "https://app.example.com"]) {
          const preflight = await httpsCall(proxy.public, "OPTIONS", "/nexus.gateway.v1.GatewayService/ListProviders", {
            headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
          });
          assert.equal(preflight.status, 204, preflight.body);
          assert.equal(preflight.headers["access-control-allow-origin"], origin);
          const call = await httpsCall(proxy.public, "POST", "/nexus.gateway.v1.GatewayService/ListProviders", { headers: { origin }, json: {} });
          assert.equal(call.status, 200, call.body);
          assert.equal(call.headers["access-control-allow-origin"], origin);
        }
      });

      it("public port: neither the Broker's API nor any /metrics", async () => {
        const admin = { "x-api-key": stack.adminKey };
        assert.equal((await httpsCall(proxy.public, "GET", "/metrics")).status, 404);
        assert.equal((await httpsCall(proxy.public, "GET", "/providers", { headers: admin })).status, 404);
        assert.equal((await httpsCall(proxy.public, "GET", `/connections/${connectionId}`, { headers: admin })).status, 404);
        await assert.rejects(createClient(ProviderService, proxyTransports(proxy.public).grpc).listProviders({}, { headers: admin }),
          (e: unknown) => ConnectError.from(e).code === Code.Unimplemented, "the Gateway has no ProviderService; the Broker's is not routed");
        assert.equal((await httpsCall(proxy.public, "GET", "/healthz")).status, 200, "load balancers may check health");
      });

      it("spoke HTTP/2 to both services, whatever the client spoke", () => {
        for (const [service, relay] of Object.entries(relays)) {
          assert.ok(relay.protocols().length > 0, `${name} reached the ${service}`);
          assert.deepEqual(new Set(relay.protocols()), new Set(["h2"]), `${name} to the ${service}`);
        }
      });

      it("plain HTTP only redirects to HTTPS, but for certificate challenges", async () => {
        const answer = await plainHttpAnswer(proxy.httpPort, "/v1/providers");
        assert.ok(answer.status === 301 || answer.status === 308, `status ${answer.status}`);
        assert.match(answer.location ?? "", new RegExp(`^https://${publicHost.replaceAll(".", "\\.")}(:\\d+)?/v1/providers$`));
        // Caddy answers its own certificate challenges; nginx serves certbot's webroot, not a redirect.
        if (name === "nginx") assert.equal((await plainHttpAnswer(proxy.httpPort, "/.well-known/acme-challenge/token-1")).status, 200);
      });
    });
  }

  it("every metric docs/deploy.md alerts on is one the services serve", async () => {
    const doc = readFileSync(`${root}docs/deploy.md`, "utf8");
    const alerting = doc.slice(doc.indexOf("## What to alert on"));
    assert.ok(alerting.length < doc.length, "docs/deploy.md has a section \"What to alert on\"");
    const named = new Set([...alerting.matchAll(/\b(?:grpc_server|oauth|nexus|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0]));
    const served = new Set<string>();
    for (const url of [stack.broker.url, stack.gateway.url]) {
      const text = await (await fetch(`${url}/metrics`)).text();
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        served.add(m[1]!);
        if (m[2] === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) served.add(`${m[1]}${suffix}`);
      }
    }
    // The RPC metrics (grpc_server_*) are API.md's: until the services serve any of them, only they may be missing.
    const rpcMetricsServed = [...served].some((n) => n.startsWith("grpc_server_"));
    const missing = [...named].filter((n) => !served.has(n) && (rpcMetricsServed || !n.startsWith("grpc_server_")));
    assert.ok(named.size >= 10, `the section names ${named.size} metrics`);
    assert.deepEqual(missing, [], "named in docs/deploy.md but served by neither service");
  });
});
