/**
 * Token endpoint: response classification with synthetic Responses
 * (security.md S-14, C-16..C-21, C-41..C-43), request encoding with a fake fetch, and
 * revocation (S-25).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  exchangeToken,
  maxExpiresInSeconds,
  processTokenResponse,
  requestToken,
  type TokenClient,
  type TokenResult,
  type TokenSet,
} from "../../src/broker/oauth/token-endpoint.ts";
import { revokeToken } from "../../src/broker/oauth/revocation.ts";
import { createOutboundFetch } from "../../src/broker/oauth/outbound-fetch.ts";
import { hangingFetch } from "../support/hanging-fetch.ts";

const now = Date.parse("2026-01-01T00:00:00Z");

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

async function tokensOf(response: Response): Promise<TokenSet> {
  const result = await processTokenResponse(response, now);
  assert.ok(result.ok, `expected success, got ${JSON.stringify(result)}`);
  return result.tokens;
}

describe("processTokenResponse: success", () => {
  it("accepts a full response", async () => {
    const tokens = await tokensOf(
      json({ access_token: "at", token_type: "Bearer", expires_in: 3600, refresh_token: "rt", scope: "a b", id_token: "x.y.z" }),
    );
    assert.deepEqual(tokens, { accessToken: "at", tokenType: "Bearer", expiresIn: 3600, refreshToken: "rt", scope: "a b", idToken: "x.y.z" });
  });

  it("normalises token_type case-insensitively and defaults it to Bearer (C-18)", async () => {
    assert.equal((await tokensOf(json({ access_token: "at", token_type: "bearer" }))).tokenType, "Bearer");
    assert.equal((await tokensOf(json({ access_token: "at", token_type: "BEARER" }))).tokenType, "Bearer");
    assert.equal((await tokensOf(json({ access_token: "at" }))).tokenType, "Bearer");
    assert.equal((await tokensOf(json({ access_token: "at", token_type: "DPoP" }))).tokenType, "DPoP");
  });

  it("reads expires_in as number or numeric string, clamps absurd values, never NaN (C-19, C-20)", async () => {
    const expiresIn = async (value: unknown) => (await tokensOf(json({ access_token: "at", expires_in: value }))).expiresIn;
    assert.equal(await expiresIn(3600), 3600);
    assert.equal(await expiresIn("3600"), 3600);
    assert.equal(await expiresIn(" 3600 "), 3600);
    assert.equal(await expiresIn(3599.9), 3599);
    assert.equal(await expiresIn(undefined), undefined);
    assert.equal(await expiresIn(null), undefined);
    assert.equal(await expiresIn("soon"), undefined);
    assert.equal(await expiresIn(-5), 0, "negative means already expired");
    assert.equal(await expiresIn("-5"), 0);
    assert.equal(await expiresIn(0), 0);
    assert.equal(await expiresIn(1e12), maxExpiresInSeconds);
    assert.equal(await expiresIn("1e400"), maxExpiresInSeconds);
    assert.equal(maxExpiresInSeconds, 10 * 365 * 86400);
    const tokens = await tokensOf(json({ access_token: "at" }));
    assert.equal("expiresIn" in tokens, false);
  });

  it("joins an array scope and tolerates a missing one", async () => {
    assert.equal((await tokensOf(json({ access_token: "at", scope: ["read", "write"] }))).scope, "read write");
    assert.equal((await tokensOf(json({ access_token: "at" }))).scope, undefined);
    assert.equal((await tokensOf(json({ access_token: "at", scope: 42 }))).scope, undefined);
  });

  it("keeps an absent refresh_token absent (so callers keep the old one, S-21)", async () => {
    const tokens = await tokensOf(json({ access_token: "at", refresh_token: "" }));
    assert.equal(tokens.refreshToken, undefined);
  });

  it("parses JSON served with another content type", async () => {
    const response = new Response(JSON.stringify({ access_token: "at" }), { headers: { "content-type": "text/plain" } });
    assert.equal((await tokensOf(response)).accessToken, "at");
  });
});

describe("processTokenResponse: failures", () => {
  const fail = (response: Response) => processTokenResponse(response, now);

  it("rejects a 200 that is not JSON, not an object, or lacks access_token (C-21)", async () => {
    const invalid: TokenResult = { ok: false, kind: "rejected", status: 200, error: "invalid_token_response" };
    assert.deepEqual(await fail(new Response("access_token=at&token_type=bearer", { status: 200 })), invalid);
    assert.deepEqual(await fail(json(["at"])), invalid);
    assert.deepEqual(await fail(json({ token_type: "Bearer" })), invalid);
    assert.deepEqual(await fail(json({ access_token: "" })), invalid);
    assert.deepEqual(await fail(json({ access_token: 42 })), invalid);
    assert.deepEqual(await fail(new Response(null, { status: 200 })), invalid);
  });

  it("classifies invalid_grant on 400 and 401 as terminal (C-16, C-42)", async () => {
    assert.deepEqual(await fail(json({ error: "invalid_grant" }, 400)), { ok: false, kind: "invalid_grant", status: 400, error: "invalid_grant" });
    assert.deepEqual(await fail(json({ error: "invalid_grant" }, 401)), { ok: false, kind: "invalid_grant", status: 401, error: "invalid_grant" });
  });

  it("classifies other 4xx as rejected with the OAuth error code or http_<status>", async () => {
    assert.deepEqual(await fail(json({ error: "invalid_client" }, 401)), { ok: false, kind: "rejected", status: 401, error: "invalid_client" });
    assert.deepEqual(await fail(json({ error: "unauthorized_client" }, 400)), { ok: false, kind: "rejected", status: 400, error: "unauthorized_client" });
    assert.deepEqual(await fail(new Response("Forbidden", { status: 403 })), { ok: false, kind: "rejected", status: 403, error: "http_403" });
    assert.deepEqual(await fail(json({ error: "Not A Code <script>" }, 400)), { ok: false, kind: "rejected", status: 400, error: "http_400" });
    assert.deepEqual(await fail(new Response(null, { status: 302, headers: { location: "https://elsewhere" } })), {
      ok: false,
      kind: "rejected",
      status: 302,
      error: "http_302",
    });
  });

  it("classifies an HTML 502 as transient (C-17)", async () => {
    const response = new Response("<html><body>Bad gateway</body></html>", { status: 502, headers: { "content-type": "text/html" } });
    assert.deepEqual(await fail(response), { ok: false, kind: "transient", status: 502, error: "http_502" });
    assert.deepEqual(await fail(json({ error: "temporarily_unavailable" }, 503)), {
      ok: false,
      kind: "transient",
      status: 503,
      error: "temporarily_unavailable",
    });
    assert.deepEqual(await fail(new Response("", { status: 408 })), { ok: false, kind: "transient", status: 408, error: "http_408" });
  });

  it("reads Retry-After as seconds or as an HTTP date relative to now (C-41)", async () => {
    assert.deepEqual(await fail(new Response("slow down", { status: 429, headers: { "retry-after": "120" } })), {
      ok: false,
      kind: "transient",
      status: 429,
      error: "http_429",
      retryAfterSeconds: 120,
    });
    const date = new Date(now + 90_000).toUTCString();
    const dated = await fail(new Response("", { status: 503, headers: { "retry-after": date } }));
    assert.ok(!dated.ok && dated.retryAfterSeconds === 90, JSON.stringify(dated));
    const past = await fail(new Response("", { status: 503, headers: { "retry-after": new Date(now - 5000).toUTCString() } }));
    assert.ok(!past.ok && past.retryAfterSeconds === 0);
    const junk = await fail(new Response("", { status: 503, headers: { "retry-after": "later" } }));
    assert.ok(!junk.ok && !("retryAfterSeconds" in junk));
  });

  it("treats a body that breaks off as transient, and an oversized one as rejected", async () => {
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"access_token":"a'));
        controller.error(new TypeError("terminated"));
      },
    });
    assert.deepEqual(await fail(new Response(broken, { status: 200 })), { ok: false, kind: "transient", status: 200, error: "network_error" });
    const huge = JSON.stringify({ access_token: "at", padding: "x".repeat(2 * 1024 * 1024) });
    assert.deepEqual(await fail(new Response(huge, { status: 200 })), { ok: false, kind: "rejected", status: 200, error: "invalid_token_response" });
  });

  it("never copies the provider's body or error_description into the result (C-43)", async () => {
    const canary = "CANARY_RT_0123456789";
    const bodies = [
      json({ error: "invalid_request", error_description: `bad refresh_token=${canary}`, echo: canary }, 400),
      json({ error: `x${canary}`.toLowerCase() }, 400),
      json({ error: "invalid_grant", error_description: canary }, 400),
      new Response(`upstream said refresh_token=${canary}`, { status: 500 }),
      new Response(`{"error":"server_error","refresh_token":"${canary}"}`, { status: 503, headers: { "content-type": "application/json" } }),
    ];
    for (const body of bodies) {
      const result = await fail(body);
      assert.equal(result.ok, false);
      assert.ok(!JSON.stringify(result).toLowerCase().includes(canary.toLowerCase()), JSON.stringify(result));
    }
  });
});

describe("requestToken", () => {
  const secret = "p@ss:w rd%+";
  const client: TokenClient = { tokenEndpoint: "https://idp.example/oauth/token", clientId: "my client:1", clientSecret: secret, authMethod: "client_secret_basic" };
  const code = { type: "authorization_code" as const, code: "c0de", redirectUri: "https://nexus.example/auth/callback", codeVerifier: "v".repeat(43) };

  function capture() {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const fetch = async (input: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(input), init: init ?? {} });
      return json({ access_token: "at" });
    };
    return { calls, fetch };
  }
  const bodyOf = (init: RequestInit) => new URLSearchParams(String(init.body));
  const headersOf = (init: RequestInit) => new Headers(init.headers);

  it("sends client_secret_basic with form-urlencoded credentials and none in the body", async () => {
    const { calls, fetch } = capture();
    await requestToken(client, code, { fetch });
    assert.equal(calls.length, 1);
    const { url, init } = calls[0]!;
    assert.equal(url, "https://idp.example/oauth/token");
    assert.equal(init.method, "POST");
    assert.equal(init.redirect, "manual");
    const headers = headersOf(init);
    assert.equal(headers.get("accept"), "application/json");
    assert.match(headers.get("content-type") ?? "", /^application\/x-www-form-urlencoded/);
    assert.equal(headers.get("authorization"), `Basic ${btoa("my+client%3A1:p%40ss%3Aw+rd%25%2B")}`);
    const body = bodyOf(init);
    assert.equal(body.get("client_id"), null);
    assert.equal(body.get("client_secret"), null);
    assert.deepEqual(Object.fromEntries(body), {
      grant_type: "authorization_code",
      code: "c0de",
      redirect_uri: "https://nexus.example/auth/callback",
      code_verifier: "v".repeat(43),
    });
  });

  it("sends client_secret_post credentials in the body and no Authorization header", async () => {
    const { calls, fetch } = capture();
    await requestToken({ ...client, authMethod: "client_secret_post" }, code, { fetch });
    const { init } = calls[0]!;
    assert.equal(headersOf(init).get("authorization"), null);
    assert.equal(bodyOf(init).get("client_id"), "my client:1");
    assert.equal(bodyOf(init).get("client_secret"), secret);
  });

  it("uses the token endpoint URL as given, without double slashes, keeping its query", async () => {
    const { calls, fetch } = capture();
    await requestToken({ ...client, tokenEndpoint: "https://idp.example/tenant/oauth2/token?api-version=2" }, code, { fetch });
    assert.equal(calls[0]!.url, "https://idp.example/tenant/oauth2/token?api-version=2");
    assert.ok(!calls[0]!.url.slice("https://".length).includes("//"));
  });

  it("joins scopes with the separator, and omits scope when there are none", async () => {
    const { calls, fetch } = capture();
    const refresh = { type: "refresh_token" as const, refreshToken: "rt-1" };
    await requestToken(client, { ...refresh, scopes: ["read", "write"] }, { fetch });
    await requestToken({ ...client, scopeSeparator: "," }, { ...refresh, scopes: ["read", "write"] }, { fetch });
    await requestToken(client, refresh, { fetch });
    await requestToken(client, { ...refresh, scopes: [] }, { fetch });
    assert.equal(bodyOf(calls[0]!.init).get("scope"), "read write");
    assert.match(String(calls[0]!.init.body), /scope=read\+write/);
    assert.equal(bodyOf(calls[1]!.init).get("scope"), "read,write");
    assert.equal(bodyOf(calls[2]!.init).has("scope"), false);
    assert.equal(bodyOf(calls[3]!.init).has("scope"), false);
    assert.deepEqual(Object.fromEntries(bodyOf(calls[2]!.init)), { grant_type: "refresh_token", refresh_token: "rt-1" });
  });

  it("omits code_verifier when PKCE is off", async () => {
    const { calls, fetch } = capture();
    await requestToken(client, { type: "authorization_code", code: "c", redirectUri: "https://nexus.example/cb" }, { fetch });
    assert.equal(bodyOf(calls[0]!.init).has("code_verifier"), false);
  });
});

describe("exchangeToken", () => {
  const client: TokenClient = { tokenEndpoint: "https://idp.example/token", clientId: "c", clientSecret: "s", authMethod: "client_secret_post" };
  const grant = { type: "refresh_token" as const, refreshToken: "rt" };
  const hanging = hangingFetch();

  it("turns a timeout into a transient result", async () => {
    const result = await exchangeToken(client, grant, { fetch: hanging, timeoutMs: 20, now: () => now });
    assert.deepEqual(result, { ok: false, kind: "transient", status: 0, error: "timeout" });
  });

  it("reports a timeout even when the fetch implementation rejects with its own error", async () => {
    const sloppy = hangingFetch(() => new TypeError("fetch failed"));
    const result = await exchangeToken(client, grant, { fetch: sloppy, timeoutMs: 20, now: () => now });
    assert.deepEqual(result, { ok: false, kind: "transient", status: 0, error: "timeout" });
  });

  it("turns a network failure into a transient result", async () => {
    const broken = async () => {
      throw new TypeError("fetch failed");
    };
    assert.deepEqual(await exchangeToken(client, grant, { fetch: broken, now: () => now }), {
      ok: false,
      kind: "transient",
      status: 0,
      error: "network_error",
    });
  });

  it("reports a token endpoint the outbound policy refuses as rejected (outbound_refused), having sent nothing", async () => {
    let sent = 0;
    const fetch = createOutboundFetch(async () => {
      sent++;
      return json({ access_token: "at" });
    }, { allowLoopback: false });
    for (const tokenEndpoint of ["https://10.0.0.1/token", "https://[::ffff:127.0.0.1]/token", "https://metadata.google.internal/token"]) {
      const result = await exchangeToken({ ...client, tokenEndpoint }, grant, { fetch, now: () => now });
      assert.deepEqual(result, { ok: false, kind: "rejected", status: 0, error: "outbound_refused" });
    }
    assert.equal(sent, 0);
    const revoked = await revokeToken({ ...client, revocationEndpoint: "https://169.254.169.254/revoke" }, "rt", "refresh_token", { fetch });
    assert.equal(revoked, "unsupported", "a refused revocation endpoint is not retried forever");
    assert.equal(sent, 0);
  });

  it("rethrows the caller's abort instead of reporting a provider failure", async () => {
    const controller = new AbortController();
    const pending = exchangeToken(client, grant, { fetch: hanging, signal: controller.signal, now: () => now });
    controller.abort(new Error("caller gave up"));
    await assert.rejects(pending, /caller gave up/);
  });

  it("classifies the response with the injected clock", async () => {
    const fetch = async () => new Response("", { status: 503, headers: { "retry-after": new Date(now + 30_000).toUTCString() } });
    const result = await exchangeToken(client, grant, { fetch, now: () => now });
    assert.deepEqual(result, { ok: false, kind: "transient", status: 503, error: "http_503", retryAfterSeconds: 30 });
  });
});

describe("revokeToken", () => {
  const client = {
    tokenEndpoint: "https://idp.example/token",
    revocationEndpoint: "https://idp.example/revoke",
    clientId: "c",
    clientSecret: "s",
    authMethod: "client_secret_basic" as const,
  };
  const answering = (response: () => Response) => {
    const calls: RequestInit[] = [];
    const fetch = async (_input: string | URL | Request, init?: RequestInit) => {
      calls.push(init ?? {});
      return response();
    };
    return { calls, fetch };
  };

  it("posts the token with its hint and client authentication (RFC 7009)", async () => {
    const { calls, fetch } = answering(() => new Response(null, { status: 200 }));
    assert.equal(await revokeToken(client, "rt-1", "refresh_token", { fetch }), "revoked");
    const body = new URLSearchParams(String(calls[0]!.body));
    assert.deepEqual(Object.fromEntries(body), { token: "rt-1", token_type_hint: "refresh_token" });
    assert.match(new Headers(calls[0]!.headers).get("authorization") ?? "", /^Basic /);
  });

  it("maps 5xx, 429, network errors and timeouts to retry", async () => {
    for (const status of [500, 503, 429]) {
      assert.equal(await revokeToken(client, "t", "access_token", answering(() => new Response("", { status }))), "retry");
    }
    const broken = async () => {
      throw new TypeError("fetch failed");
    };
    assert.equal(await revokeToken(client, "t", "access_token", { fetch: broken }), "retry");
    assert.equal(await revokeToken(client, "t", "access_token", { fetch: hangingFetch(), timeoutMs: 20 }), "retry");
  });

  it("maps unsupported_token_type and other 4xx to unsupported", async () => {
    const unsupported = () => json({ error: "unsupported_token_type" }, 400);
    assert.equal(await revokeToken(client, "t", "access_token", answering(unsupported)), "unsupported");
    assert.equal(await revokeToken(client, "t", "access_token", answering(() => json({ error: "invalid_client" }, 401))), "unsupported");
  });
});
