/**
 * OIDC discovery with a fake fetch: caching, validation of the document and of
 * every endpoint URL (security.md S-17, S-28, C-58).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NexusError, type ErrorReason } from "../../src/shared/errors.ts";
import { checkOutboundUrl } from "../../src/broker/domain/outbound-url-policy.ts";
import { createDiscovery, selectTokenEndpointAuthMethod } from "../../src/broker/oauth/discovery.ts";
import { hangingFetch } from "../support/hanging-fetch.ts";

const issuer = "https://idp.example";

function documentFor(iss: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: iss,
    authorization_endpoint: `${iss}/authorize`,
    token_endpoint: `${iss}/token`,
    jwks_uri: `${iss}/jwks`,
    userinfo_endpoint: `${iss}/userinfo`,
    revocation_endpoint: `${iss}/revoke`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic"],
    authorization_response_iss_parameter_supported: true,
    code_challenge_methods_supported: ["S256"],
    ...overrides,
  };
}

/** A fake fetch answering from `respond`, recording requested URLs. */
function fakeFetch(respond: (url: string) => Response | Promise<Response>) {
  const urls: string[] = [];
  const fetch = async (input: string | URL | Request) => {
    const url = String(input);
    urls.push(url);
    return respond(url);
  };
  return { urls, fetch };
}

const ok = (body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json", ...headers } });

async function rejectsWith(promise: Promise<unknown>, reason: ErrorReason, pattern: RegExp): Promise<NexusError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof NexusError, `expected NexusError ${reason}, got ${String(caught)}`);
  assert.equal(caught.reason, reason, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

describe("discover", () => {
  it("fetches <issuer>/.well-known/openid-configuration and maps the metadata", async () => {
    const { urls, fetch } = fakeFetch(() => ok(documentFor(issuer)));
    const metadata = await createDiscovery({ fetch, now: () => 0 }).discover(issuer);
    assert.deepEqual(urls, ["https://idp.example/.well-known/openid-configuration"]);
    assert.deepEqual(metadata, {
      issuer,
      authorizationEndpoint: "https://idp.example/authorize",
      tokenEndpoint: "https://idp.example/token",
      jwksUri: "https://idp.example/jwks",
      userinfoEndpoint: "https://idp.example/userinfo",
      revocationEndpoint: "https://idp.example/revoke",
      tokenEndpointAuthMethodsSupported: ["client_secret_post", "client_secret_basic"],
      authorizationResponseIssParameterSupported: true,
      codeChallengeMethodsSupported: ["S256"],
    });
  });

  it("strips one trailing slash of a path issuer, and requires the document to repeat the issuer byte for byte", async () => {
    const pathIssuer = "https://login.example/tenant/v2.0/";
    const { urls, fetch } = fakeFetch(() => ok(documentFor(pathIssuer)));
    await createDiscovery({ fetch, now: () => 0 }).discover(pathIssuer);
    assert.deepEqual(urls, ["https://login.example/tenant/v2.0/.well-known/openid-configuration"]);
  });

  it("caches within the TTL and refetches after it (injected clock)", async () => {
    let clock = 1_000;
    const { urls, fetch } = fakeFetch(() => ok(documentFor(issuer)));
    const discovery = createDiscovery({ fetch, now: () => clock, ttlMs: 60_000 });
    await discovery.discover(issuer);
    clock += 59_000;
    await discovery.discover(issuer);
    assert.equal(urls.length, 1, "second call within the TTL is served from cache");
    clock += 2_000;
    await discovery.discover(issuer);
    assert.equal(urls.length, 2, "call after the TTL refetches");
  });

  it("honours a shorter Cache-Control max-age, and no-store", async () => {
    let clock = 0;
    let cacheControl = "public, max-age=10";
    const { urls, fetch } = fakeFetch(() => ok(documentFor(issuer), { "cache-control": cacheControl }));
    const discovery = createDiscovery({ fetch, now: () => clock, ttlMs: 3_600_000 });
    await discovery.discover(issuer);
    clock = 9_000;
    await discovery.discover(issuer);
    assert.equal(urls.length, 1);
    clock = 11_000;
    cacheControl = "no-store";
    await discovery.discover(issuer);
    await discovery.discover(issuer);
    assert.equal(urls.length, 3);
  });

  it("never caches failures", async () => {
    let fail = true;
    const { urls, fetch } = fakeFetch(() => (fail ? new Response("down", { status: 503, headers: { "retry-after": "7" } }) : ok(documentFor(issuer))));
    const discovery = createDiscovery({ fetch, now: () => 0 });
    const error = await rejectsWith(discovery.discover(issuer), "provider_unavailable", /HTTP 503/);
    assert.equal(error.retryAfterSeconds, 7);
    fail = false;
    assert.equal((await discovery.discover(issuer)).issuer, issuer);
    assert.equal(urls.length, 2);
  });

  it("maps network errors and timeouts to provider_unavailable naming the URL", async () => {
    const broken = fakeFetch(() => Promise.reject(new TypeError("fetch failed")));
    await rejectsWith(createDiscovery({ fetch: broken.fetch, now: () => 0 }).discover(issuer), "provider_unavailable", /idp\.example.*network/);
    await rejectsWith(createDiscovery({ fetch: hangingFetch(), now: () => 0, timeoutMs: 20 }).discover(issuer), "provider_unavailable", /timed out/);
  });

  it("rejects an issuer mismatch, including a trailing slash (S-17)", async () => {
    for (const other of ["https://evil.example", "https://idp.example/", "HTTPS://IDP.EXAMPLE"]) {
      const { fetch } = fakeFetch(() => ok(documentFor(other)));
      const error = await rejectsWith(createDiscovery({ fetch, now: () => 0 }).discover(issuer), "invalid_argument", /does not equal/);
      assert.equal(error.field, "issuer");
    }
  });

  it("names a missing token_endpoint, authorization_endpoint or jwks_uri", async () => {
    for (const field of ["token_endpoint", "authorization_endpoint", "jwks_uri"]) {
      const { fetch } = fakeFetch(() => ok(documentFor(issuer, { [field]: undefined })));
      const error = await rejectsWith(createDiscovery({ fetch, now: () => 0 }).discover(issuer), "invalid_argument", new RegExp(`no ${field}`));
      assert.equal(error.field, "issuer");
    }
  });

  it("rejects documents that are not JSON objects, or have malformed lists", async () => {
    for (const body of ["<html>", "[]", "null"]) {
      const { fetch } = fakeFetch(() => new Response(body, { status: 200 }));
      await rejectsWith(createDiscovery({ fetch, now: () => 0 }).discover(issuer), "invalid_argument", /not a JSON object/);
    }
    const { fetch } = fakeFetch(() => ok(documentFor(issuer, { token_endpoint_auth_methods_supported: "client_secret_basic" })));
    await rejectsWith(createDiscovery({ fetch, now: () => 0 }).discover(issuer), "invalid_argument", /token_endpoint_auth_methods_supported/);
  });

  it("rejects unsafe endpoints in the document: http, metadata IPs, file: (S-28, C-58)", async () => {
    const cases: Array<[string, string]> = [
      ["token_endpoint", "http://idp.example/token"],
      ["token_endpoint", "http://169.254.169.254/latest/meta-data/"],
      ["token_endpoint", "https://169.254.169.254/token"],
      ["jwks_uri", "file:///etc/passwd"],
      ["userinfo_endpoint", "https://[fd00:ec2::254]/"],
      ["authorization_endpoint", "javascript:alert(1)"],
    ];
    for (const [field, url] of cases) {
      const { fetch } = fakeFetch(() => ok(documentFor(issuer, { [field]: url })));
      await rejectsWith(createDiscovery({ fetch, now: () => 0 }).discover(issuer), "invalid_argument", new RegExp(field));
    }
  });

  it("refuses endpoints on private, loopback, CGNAT and embedded-IPv4 addresses, with or without the development flag", async () => {
    const cases: Array<[string, string, boolean]> = [
      ["token_endpoint", "https://10.0.0.1/token", true],
      ["token_endpoint", "https://192.168.1.10/token", true],
      ["token_endpoint", "https://[fd12::1]/token", true],
      ["token_endpoint", "https://100.64.0.1/token", true],
      ["token_endpoint", "https://[::ffff:10.0.0.1]/token", true],
      ["token_endpoint", "https://[::ffff:127.0.0.1]/token", false],
      ["token_endpoint", "https://127.0.0.1/token", false],
      ["jwks_uri", "https://metadata.google.internal/jwks", true],
      ["revocation_endpoint", "https://[64:ff9b::a9fe:a9fe]/revoke", true],
      ["userinfo_endpoint", "https://localhost/userinfo", false],
    ];
    for (const [field, url, allowLoopback] of cases) {
      const { fetch } = fakeFetch(() => ok(documentFor(issuer, { [field]: url })));
      const error = await rejectsWith(
        createDiscovery({ fetch, now: () => 0, allowInsecureLoopback: allowLoopback }).discover(issuer),
        "invalid_argument",
        new RegExp(`unacceptable ${field}: .*points at`),
      );
      assert.equal(error.field, "issuer", url);
    }
  });

  it("refuses an unsafe issuer without making any request (C-58)", async () => {
    const { urls, fetch } = fakeFetch(() => ok({}));
    const discovery = createDiscovery({ fetch, now: () => 0 });
    for (const bad of ["http://idp.example", "http://169.254.169.254", "file:///etc", "https://idp.example?x=1", "http://127.0.0.1:8080"]) {
      await rejectsWith(discovery.discover(bad), "invalid_argument", /.+/);
    }
    assert.equal(urls.length, 0);
  });

  it("allows http loopback issuers only with allowInsecureLoopback", async () => {
    const local = "http://127.0.0.1:4000";
    const { fetch } = fakeFetch(() => ok(documentFor(local)));
    assert.equal((await createDiscovery({ fetch, now: () => 0, allowInsecureLoopback: true }).discover(local)).issuer, local);
    await rejectsWith(createDiscovery({ fetch, now: () => 0 }).discover(local), "invalid_argument", /loopback/);
  });

  it("does not follow redirects", async () => {
    const { fetch } = fakeFetch(() => new Response(null, { status: 302, headers: { location: "http://169.254.169.254/" } }));
    await rejectsWith(createDiscovery({ fetch, now: () => 0 }).discover(issuer), "invalid_argument", /redirects are not followed/);
  });
});

describe("checkOutboundUrl", () => {
  const bad = (url: string, allow = false) =>
    assert.throws(() => checkOutboundUrl(url, "token_url", { allowLoopback: allow }), (error: unknown) => {
      assert.ok(error instanceof NexusError && error.reason === "invalid_argument" && error.field === "token_url", String(error));
      return true;
    }, url);

  it("accepts https and, when allowed, loopback", () => {
    assert.equal(checkOutboundUrl("https://idp.example/token", "token_url", { allowLoopback: false }).href, "https://idp.example/token");
    assert.equal(checkOutboundUrl("http://localhost:8080/token", "token_url", { allowLoopback: true }).port, "8080");
    assert.equal(checkOutboundUrl("http://[::1]/token", "token_url", { allowLoopback: true }).hostname, "[::1]");
  });

  it("refuses private addresses, which the development flag does not allow", () => {
    bad("https://10.0.0.5/token");
    bad("https://10.0.0.5/token", true);
  });

  it("refuses link-local and metadata hosts in every spelling", () => {
    for (const url of [
      "https://169.254.169.254/",
      "https://169.254.1.1/",
      "https://2852039166/", // 169.254.169.254 as a decimal
      "https://0xa9fea9fe/",
      "https://[::ffff:169.254.169.254]/",
      "https://[fd00:ec2::254]/",
      "https://[fe80::1]/",
      "https://metadata.google.internal/",
      "https://metadata.google.internal./",
      "https://100.100.100.200/",
      "https://0.0.0.0/",
    ]) {
      bad(url, true);
    }
  });

  it("refuses other schemes, plain http, credentials and fragments", () => {
    for (const url of ["file:///etc/passwd", "ftp://idp.example/", "data:text/plain,x", "http://idp.example/token", "https://u:p@idp.example/", "https://idp.example/#x", "/token"]) {
      bad(url, true);
    }
    bad("http://127.0.0.1/token");
    bad("https://localhost/token");
  });
});

describe("selectTokenEndpointAuthMethod", () => {
  it("picks the first supported secret method, basic by default", () => {
    assert.equal(selectTokenEndpointAuthMethod(undefined), "client_secret_basic");
    assert.equal(selectTokenEndpointAuthMethod(["private_key_jwt", "client_secret_post", "client_secret_basic"]), "client_secret_post");
    assert.equal(selectTokenEndpointAuthMethod(["private_key_jwt"]), undefined);
  });
});
