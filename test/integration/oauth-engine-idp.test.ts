/**
 * The OAuth engine against a real OpenID Provider (oidc-provider in-process):
 * discovery, authorization URL, code exchange with PKCE, ID token, userinfo,
 * refresh with rotation and reuse detection, revocation.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { NexusError } from "../../src/shared/errors.ts";
import { buildAuthorizationUrl } from "../../src/broker/oauth/authorization-url.ts";
import { createDiscovery, type ProviderMetadata } from "../../src/broker/oauth/discovery.ts";
import { createIdTokenVerifier } from "../../src/broker/oauth/id-token.ts";
import { createPkce, randomToken } from "../../src/broker/oauth/pkce.ts";
import { revokeToken } from "../../src/broker/oauth/revocation.ts";
import { exchangeToken, type TokenClient, type TokenResult, type TokenSet } from "../../src/broker/oauth/token-endpoint.ts";
import { startTestIdp, type TestIdp } from "../support/test-idp.ts";

// Never contacted: the test browser stops at the redirect.
const redirectUri = "http://127.0.0.1:9/auth/callback";
const basicClient = { client_id: "agent-basic", client_secret: "s3cret:with%odd chars", redirect_uris: [redirectUri] };
const postClient = { ...basicClient, client_id: "agent-post", token_endpoint_auth_method: "client_secret_post" as const };

let idp: TestIdp;
let metadata: ProviderMetadata;
const now = () => Date.now();
const verifier = createIdTokenVerifier({ fetch, now });

function tokenClient(client: typeof basicClient, authMethod: TokenClient["authMethod"] = "client_secret_basic"): TokenClient {
  return { tokenEndpoint: metadata.tokenEndpoint, clientId: client.client_id, clientSecret: client.client_secret, authMethod };
}

function assertOk(result: TokenResult): TokenSet {
  assert.ok(result.ok, `token request failed: ${JSON.stringify(result)}`);
  return result.tokens;
}

/** Runs the browser part of a flow and returns what the callback would receive plus the secrets the broker kept. */
async function authorize(client: typeof basicClient, options: { accountId?: string; scopes?: string[] } = {}) {
  const pkce = await createPkce();
  const state = randomToken();
  const nonce = randomToken();
  const url = buildAuthorizationUrl({
    authorizationEndpoint: metadata.authorizationEndpoint,
    clientId: client.client_id,
    redirectUri,
    scopes: options.scopes ?? ["openid", "email"],
    state,
    codeChallenge: pkce.challenge,
    nonce,
  });
  const callback = await idp.authorize(url, options.accountId === undefined ? {} : { accountId: options.accountId });
  return { callback, pkce, state, nonce };
}

async function connect(client: typeof basicClient, authMethod: TokenClient["authMethod"] = "client_secret_basic", accountId?: string) {
  const flow = await authorize(client, accountId === undefined ? {} : { accountId });
  const code = flow.callback.searchParams.get("code");
  assert.ok(code);
  const tokens = assertOk(
    await exchangeToken(tokenClient(client, authMethod), { type: "authorization_code", code, redirectUri, codeVerifier: flow.pkce.verifier }, { fetch, now }),
  );
  return { ...flow, tokens };
}

before(async () => {
  idp = await startTestIdp({ clients: [basicClient, postClient] });
  metadata = await createDiscovery({ fetch, now, allowInsecureLoopback: true }).discover(idp.issuer);
});

after(async () => {
  await idp.close();
});

describe("OAuth engine against oidc-provider", () => {
  it("discovers the provider's metadata", () => {
    assert.equal(metadata.issuer, idp.issuer);
    assert.equal(metadata.authorizationEndpoint, `${idp.issuer}/auth`);
    assert.equal(metadata.tokenEndpoint, `${idp.issuer}/token`);
    assert.ok(metadata.jwksUri.startsWith(idp.issuer));
    assert.ok(metadata.userinfoEndpoint);
    assert.ok(metadata.revocationEndpoint);
    assert.equal(metadata.authorizationResponseIssParameterSupported, true);
    assert.deepEqual(metadata.codeChallengeMethodsSupported, ["S256"]);
    assert.ok(metadata.tokenEndpointAuthMethodsSupported?.includes("client_secret_post"));
  });

  it("runs the code flow with PKCE, state, iss, nonce, id_token and userinfo", async () => {
    const { callback, state, nonce, tokens } = await connect(basicClient, "client_secret_basic", "alice");
    assert.equal(callback.searchParams.get("state"), state);
    assert.equal(callback.searchParams.get("iss"), idp.issuer);
    assert.equal(tokens.tokenType, "Bearer");
    assert.ok(tokens.expiresIn !== undefined && tokens.expiresIn > 0 && tokens.expiresIn <= 60);
    assert.ok(tokens.refreshToken);
    assert.match(tokens.scope ?? "", /\bopenid\b/);
    assert.ok(tokens.idToken);

    const claims = await verifier.verify(tokens.idToken, {
      issuer: metadata.issuer,
      jwksUri: metadata.jwksUri,
      clientId: basicClient.client_id,
      nonce,
      accessToken: tokens.accessToken,
    });
    assert.equal(claims.sub, "alice");
    assert.equal(claims.nonce, nonce);
    assert.equal(claims.aud, basicClient.client_id);

    assert.ok(metadata.userinfoEndpoint);
    const userinfo = await fetch(metadata.userinfoEndpoint, { headers: { authorization: `Bearer ${tokens.accessToken}` } });
    assert.equal(userinfo.status, 200);
    assert.deepEqual(await userinfo.json(), { sub: "alice", email: "alice@example.test", email_verified: true });
  });

  it("rejects an id_token checked against a different nonce, audience or issuer", async () => {
    const { nonce, tokens } = await connect(basicClient);
    assert.ok(tokens.idToken);
    const expect = { issuer: metadata.issuer, jwksUri: metadata.jwksUri, clientId: basicClient.client_id };
    await assert.rejects(verifier.verify(tokens.idToken, { ...expect, nonce: `${nonce}x` }), (error: unknown) => {
      assert.ok(error instanceof NexusError);
      assert.equal(error.reason, "id_token_invalid");
      assert.match(error.message, /nonce/);
      assert.ok(!error.message.includes(tokens.idToken!), "the token is never in the message");
      return true;
    });
    await assert.rejects(verifier.verify(tokens.idToken, { ...expect, nonce, clientId: postClient.client_id }), /aud/);
    await assert.rejects(verifier.verify(tokens.idToken, { ...expect, nonce, issuer: `${metadata.issuer}/` }), /iss/);
  });

  it("refuses a code exchanged with the wrong code_verifier", async () => {
    const { callback } = await authorize(basicClient);
    const code = callback.searchParams.get("code");
    assert.ok(code);
    const wrong = (await createPkce()).verifier;
    const result = await exchangeToken(tokenClient(basicClient), { type: "authorization_code", code, redirectUri, codeVerifier: wrong }, { fetch, now });
    assert.deepEqual(result, { ok: false, kind: "invalid_grant", status: 400, error: "invalid_grant" });
  });

  it("authenticates with client_secret_post and client_secret_basic as configured; a wrong secret is invalid_client", async () => {
    const seen: Array<{ authorization: string | null; body: string }> = [];
    const recording: typeof fetch = async (input, init) => {
      seen.push({ authorization: new Headers(init?.headers).get("authorization"), body: String(init?.body) });
      return fetch(input, init);
    };
    const post = await authorize(postClient);
    const postCode = post.callback.searchParams.get("code");
    assert.ok(postCode);
    const postGrant = { type: "authorization_code" as const, code: postCode, redirectUri, codeVerifier: post.pkce.verifier };
    assertOk(await exchangeToken(tokenClient(postClient, "client_secret_post"), postGrant, { fetch: recording, now }));
    assert.equal(seen[0]?.authorization, null);
    assert.equal(new URLSearchParams(seen[0]?.body).get("client_secret"), postClient.client_secret);

    // The basic client's secret holds ":" "%" and a space, so only RFC 6749 2.3.1 encoding authenticates it.
    const basic = await authorize(basicClient);
    const basicCode = basic.callback.searchParams.get("code");
    assert.ok(basicCode);
    const basicGrant = { type: "authorization_code" as const, code: basicCode, redirectUri, codeVerifier: basic.pkce.verifier };
    assertOk(await exchangeToken(tokenClient(basicClient), basicGrant, { fetch: recording, now }));
    assert.match(seen[1]?.authorization ?? "", /^Basic /);
    assert.equal(new URLSearchParams(seen[1]?.body).get("client_secret"), null);

    const third = await authorize(basicClient);
    const code = third.callback.searchParams.get("code");
    assert.ok(code);
    const wrong = { ...tokenClient(basicClient), clientSecret: "not-the-secret" };
    const result = await exchangeToken(wrong, { ...basicGrant, code, codeVerifier: third.pkce.verifier }, { fetch, now });
    assert.deepEqual(result, { ok: false, kind: "rejected", status: 401, error: "invalid_client" });
  });

  it("rotates refresh tokens and detects reuse of an old one", async () => {
    const { tokens } = await connect(basicClient);
    const first = tokens.refreshToken;
    assert.ok(first);
    const refreshed = assertOk(await exchangeToken(tokenClient(basicClient), { type: "refresh_token", refreshToken: first }, { fetch, now }));
    assert.ok(refreshed.refreshToken);
    assert.notEqual(refreshed.refreshToken, first);
    assert.notEqual(refreshed.accessToken, tokens.accessToken);

    const reused = await exchangeToken(tokenClient(basicClient), { type: "refresh_token", refreshToken: first }, { fetch, now });
    assert.deepEqual(reused, { ok: false, kind: "invalid_grant", status: 400, error: "invalid_grant" });
    // Reuse detection revokes the whole grant: the newest token dies too (why refreshes must be serialised, S-22).
    const after = await exchangeToken(tokenClient(basicClient), { type: "refresh_token", refreshToken: refreshed.refreshToken }, { fetch, now });
    assert.equal(after.ok ? "ok" : after.kind, "invalid_grant");
  });

  it("gets invalid_grant after the IdP revokes the account's grants", async () => {
    const { tokens } = await connect(basicClient, "client_secret_basic", "bob");
    assert.ok(tokens.refreshToken);
    const other = await connect(basicClient, "client_secret_basic", "carol");
    await idp.revokeAll("bob");
    const result = await exchangeToken(tokenClient(basicClient), { type: "refresh_token", refreshToken: tokens.refreshToken }, { fetch, now });
    assert.equal(result.ok ? "ok" : result.kind, "invalid_grant");
    assert.ok(other.tokens.refreshToken);
    const untouched = await exchangeToken(tokenClient(basicClient), { type: "refresh_token", refreshToken: other.tokens.refreshToken }, { fetch, now });
    assert.ok(untouched.ok, "another account's grant survives");
  });

  it("revokes a refresh token (RFC 7009)", async () => {
    const { tokens } = await connect(postClient, "client_secret_post");
    assert.ok(tokens.refreshToken && metadata.revocationEndpoint);
    const client = { ...tokenClient(postClient, "client_secret_post"), revocationEndpoint: metadata.revocationEndpoint };
    assert.equal(await revokeToken(client, tokens.refreshToken, "refresh_token", { fetch }), "revoked");
    const result = await exchangeToken(tokenClient(postClient, "client_secret_post"), { type: "refresh_token", refreshToken: tokens.refreshToken }, { fetch, now });
    assert.equal(result.ok ? "ok" : result.kind, "invalid_grant");
  });

  it("returns error=access_denied when the user denies consent", async () => {
    const url = buildAuthorizationUrl({
      authorizationEndpoint: metadata.authorizationEndpoint,
      clientId: basicClient.client_id,
      redirectUri,
      scopes: ["openid"],
      state: "state-1",
      codeChallenge: (await createPkce()).challenge,
    });
    const callback = await idp.authorize(url, { deny: true });
    assert.equal(callback.searchParams.get("error"), "access_denied");
    assert.equal(callback.searchParams.get("state"), "state-1");
    assert.equal(callback.searchParams.get("code"), null);
  });
});
