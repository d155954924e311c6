import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Registry } from "prom-client";
import {
  authenticatedFetch, type ClientLogger, createClientMetrics, createNexusClient, createTokenCache, type NexusClient,
} from "../../src/client/mod.ts";
import { type ApiStandIn, startApiStandIn } from "../support/api-stand-in.ts";
import { type ClientStack, clientError, connectOAuth, connectStatic, registerIdp, registerStatic, startClientStack } from "../support/client-stack.ts";
import { gatewayCallCounter } from "../support/gateway-call-counter.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";
import { until } from "../support/until.ts";

/** A logger that keeps every line, to check that no credential value is ever logged. */
function recordingLogger(): ClientLogger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push(JSON.stringify({ level, message, ...fields }));
  return { lines, debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

describe("authenticatedFetch, the token cache and typed errors against a real Gateway", () => {
  let stack: ClientStack;
  let idp: TestIdp;
  let shortIdp: TestIdp;
  let api: ApiStandIn;
  let counter: ReturnType<typeof gatewayCallCounter>;
  let client: NexusClient;
  const logger = recordingLogger();
  const registry = new Registry();
  const metrics = createClientMetrics(registry, { agent_id: "agent-7" });
  const tokensSeen = new Set<string>();

  /** The API accepts a bearer token when the issuing IdP's userinfo does. */
  const acceptAt = (issuer: string) => async (req: { headers: Record<string, unknown> }) => {
    const authorization = String(req.headers.authorization ?? "");
    tokensSeen.add(authorization.replace(/^Bearer /, ""));
    const me = await fetch(`${issuer}/me`, { headers: { authorization } });
    await me.body?.cancel();
    return { status: me.status === 200 ? 200 : 401 };
  };

  before(async () => {
    const clients = [{ client_id: "agent-app", client_secret: "s3cret", redirect_uris: ["http://127.0.0.1:1/auth/callback"] }];
    idp = await startTestIdp({ clients });
    shortIdp = await startTestIdp({ clients, accessTokenTtl: 5 });
    stack = await startClientStack();
    api = await startApiStandIn();
    await registerIdp(stack, idp, "idp", "agent-app", "s3cret");
    await registerIdp(stack, shortIdp, "idp-short", "agent-app", "s3cret");
    await registerStatic(stack, "static-key", "api_key", { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } }, ["api_key"]);
    counter = gatewayCallCounter();
    client = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, fetch: counter.fetch, logger, metrics });
  });
  after(async () => {
    await api.close();
    await stack.close();
    await idp.close();
    await shortIdp.close();
    for (const token of tokensSeen) {
      if (token !== "") assert.ok(!logger.lines.some((l) => l.includes(token)), "no credential value is ever logged");
    }
  });

  it("100 concurrent requests cost ONE GetToken; the next one is a cache hit; the metrics say so", async () => {
    const id = await connectOAuth(stack, idp, "idp", "ws-burst");
    api.check = acceptAt(idp.issuer);
    // The test IdP's tokens live 60 s: a margin under that lets the cache keep them.
    const cache = createTokenCache({ client, evictBeforeExpirySeconds: 20, metrics, logger });
    const fetcher = authenticatedFetch({ client, connectionId: id }, { cache, logger });
    const before = counter.count("GetToken");
    const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => fetcher(`${api.url}/items/${i}`)));
    assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([200]));
    assert.equal(counter.count("GetToken") - before, 1, "single flight: one Gateway call for the burst");
    assert.equal((await fetcher(`${api.url}/again`)).status, 200);
    assert.equal(counter.count("GetToken") - before, 1, "then served from the cache");
    const text = await registry.metrics();
    assert.match(text, /nexus_client_token_fetches_total\{agent_id="agent-7",status="success"\} 1\n/);
    assert.match(text, /nexus_client_cache_hits_total\{agent_id="agent-7"\} 1\n/);
  });

  it("workspace keys resolve once for a burst too", async () => {
    await connectStatic(stack, "static-key", "ws-resolve", { api_key: "k-resolve" });
    api.check = (req) => ({ status: req.headers["x-api-key"] === "k-resolve" ? 200 : 401 });
    const fetcher = authenticatedFetch({ client, workspaceId: "ws-resolve", providerName: "static-key" }, { logger });
    const before = counter.count("ResolveToken");
    const statuses = await Promise.all(Array.from({ length: 50 }, () => fetcher(`${api.url}/r`).then((r) => r.status)));
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.equal(counter.count("ResolveToken") - before, 1);
  });

  it("a credential inside the eviction margin is fetched again before use, and the Broker's refreshed token is what gets sent", async () => {
    const id = await connectOAuth(stack, shortIdp, "idp-short", "ws-short");
    // Control: with a margin shorter than the 5 s lifetime, a second get is a cache hit.
    const relaxed = createTokenCache({ client, evictBeforeExpirySeconds: 1, logger });
    let before = counter.count("GetToken");
    await relaxed.get({ connectionId: id });
    await relaxed.get({ connectionId: id });
    assert.equal(counter.count("GetToken") - before, 1);
    // A margin longer than the remaining life: the credential is never served from the cache.
    const strict = createTokenCache({ client, evictBeforeExpirySeconds: 10, logger });
    api.check = acceptAt(shortIdp.issuer);
    const fetcher = authenticatedFetch({ client, connectionId: id }, { cache: strict, logger });
    before = counter.count("GetToken");
    const refreshesBefore = counter.count("RefreshToken");
    assert.equal((await fetcher(`${api.url}/one`)).status, 200);
    const first = String(api.seen.at(-1)!.headers.authorization);
    // The Broker refreshes a 5 s token well before it expires; the next request must carry the new one.
    await until("the Broker to refresh the short-lived token", async () => ((await createTokenCache({ client: createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, logger: {} }) }).get({ connectionId: id })).credentials.access_token !== first.slice(7) ? true : undefined), 8000, 200);
    assert.equal((await fetcher(`${api.url}/two`)).status, 200);
    const second = String(api.seen.at(-1)!.headers.authorization);
    assert.notEqual(second, first, "the request carried the refreshed token, not the stale cached one");
    assert.equal(counter.count("GetToken") - before, 2);
    assert.equal(counter.count("RefreshToken") - refreshesBefore, 0, "no 401 and no forced refresh were needed");
  });

  it("a provider 401 forces exactly one refresh and one retry, with the same body", async () => {
    const id = await connectOAuth(stack, idp, "idp", "ws-401");
    const accept = acceptAt(idp.issuer);
    let rejectNext = true;
    api.check = async (req) => {
      if (rejectNext) {
        rejectNext = false;
        return { status: 401 };
      }
      return accept(req);
    };
    const fetcher = authenticatedFetch({ client, connectionId: id }, { logger });
    const refreshes = counter.count("RefreshToken");
    const seen = api.seen.length;
    const res = await fetcher(`${api.url}/orders`, { method: "POST", body: JSON.stringify({ n: 1 }), headers: { "content-type": "application/json" } });
    assert.equal(res.status, 200);
    assert.equal(counter.count("RefreshToken") - refreshes, 1);
    const [a, b] = api.seen.slice(seen);
    assert.equal(api.seen.length - seen, 2);
    assert.notEqual(a!.headers.authorization, b!.headers.authorization, "the retry used the refreshed token");
    assert.equal(b!.body.toString(), '{"n":1}');
    assert.equal(a!.body.toString(), '{"n":1}');
  });

  it("a second 401 goes back to the caller: no loop", async () => {
    const id = await connectOAuth(stack, idp, "idp", "ws-401-twice");
    api.check = () => ({ status: 401 });
    const fetcher = authenticatedFetch({ client, connectionId: id }, { logger });
    const refreshes = counter.count("RefreshToken");
    const seen = api.seen.length;
    const res = await fetcher(`${api.url}/always-401`, { method: "PUT", body: "x" });
    assert.equal(res.status, 401);
    assert.equal(counter.count("RefreshToken") - refreshes, 1);
    assert.equal(api.seen.length - seen, 2);
  });

  it("a static key that gets 401 is not refreshable: the 401 is returned after one send", async () => {
    const id = await connectStatic(stack, "static-key", "ws-static-401", { api_key: "revoked-at-provider" });
    api.check = () => ({ status: 401 });
    const seen = api.seen.length;
    const res = await authenticatedFetch({ client, connectionId: id }, { logger })(`${api.url}/s`);
    assert.equal(res.status, 401);
    assert.equal(api.seen.length - seen, 1);
  });

  describe("typed errors", () => {
    it("connection_not_found, not retried", async () => {
      const before = counter.count("GetToken");
      const e = await clientError(client.getToken(crypto.randomUUID()));
      assert.deepEqual([e.code, e.reason, e.retryable], ["not_found", "connection_not_found", false]);
      assert.equal(counter.count("GetToken") - before, 1);
    });

    it("invalid_argument and unauthenticated, not retried", async () => {
      const before = counter.count("GetToken");
      // Refused by the contract's input rule before anything is sent.
      const bad = await clientError(client.getToken("not-a-uuid"));
      assert.deepEqual([bad.code, bad.reason, bad.field], ["invalid_argument", "invalid_argument", "connection_id"]);
      assert.match(bad.message, /connection_id/);
      assert.equal(counter.count("GetToken") - before, 0);
      const wrongKey = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: "not-an-agent-key-0123456789", fetch: counter.fetch, logger });
      const denied = await clientError(wrongKey.getToken(crypto.randomUUID()));
      assert.equal(denied.code, "unauthenticated");
      assert.equal(counter.count("GetToken") - before, 1);
    });

    it("attention_required once the provider revoked the grant", async () => {
      const id = await connectOAuth(stack, idp, "idp", "ws-revoked", "victim");
      await idp.revokeAll("victim");
      const before = counter.count("RefreshToken");
      const refresh = await clientError(client.refresh(id));
      assert.deepEqual([refresh.code, refresh.reason, refresh.retryable], ["failed_precondition", "attention_required", false]);
      assert.equal(counter.count("RefreshToken") - before, 1);
      const get = await clientError(client.getToken(id));
      assert.equal(get.reason, "attention_required");
      assert.deepEqual(await client.checkConnection(id), { status: "attention_required", reason: "invalid_grant" });
    });

    it("unavailable while the Broker is down: retried with growing backoff, then surfaced; stderr gets the log, stdout nothing", async () => {
      const delays: number[] = [];
      const timers = {
        setTimeout: (fn: () => void, ms: number) => (delays.push(ms), setTimeout(fn, ms)),
        clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
      };
      const stderr: string[] = [];
      const stdout: string[] = [];
      const { error: originalError, log: originalLog } = console;
      console.error = (...args: unknown[]) => void stderr.push(args.join(" "));
      console.log = (...args: unknown[]) => void stdout.push(args.join(" "));
      await stack.stopBroker();
      try {
        // The default logger (no `logger` option) is the one under test here.
        const retrying = createNexusClient({ baseUrl: stack.gatewayUrl, apiKey: stack.agentKey, fetch: counter.fetch, retry: { attempts: 4, baseDelayMs: 40, maxDelayMs: 100 }, random: () => 0.75, timers });
        const before = counter.count("GetToken");
        const e = await clientError(retrying.getToken(crypto.randomUUID()));
        assert.deepEqual([e.code, e.reason, e.retryable], ["unavailable", "unavailable", true]);
        assert.equal(counter.count("GetToken") - before, 4);
        assert.deepEqual(delays, [30, 60, 75], "full jitter over 40·2^n, capped at 100");
      } finally {
        console.error = originalError;
        console.log = originalLog;
        await stack.startBroker();
      }
      assert.equal(stdout.length, 0);
      const line = JSON.parse(stderr.find((l) => l.includes("retrying"))!) as Record<string, unknown>;
      assert.equal(line.level, "warn");
      assert.equal(line.reason, "unavailable");
      await until("the Gateway to reach the Broker again", async () => ((await client.checkConnection(await connectStatic(stack, "static-key", "ws-back", { api_key: "k" }))).status === "active" ? true : undefined));
    });
  });
});
