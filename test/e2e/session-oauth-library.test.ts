/**
 * An OAuth library that speaks RFC 8693 calls the token exchange unchanged
 * (issue 17): oauth4webapi discovers the Gateway from its RFC 8414 metadata,
 * authenticates as the agent with private_key_jwt (an agent registered with a
 * JWKS) or client_secret_basic (client id = agent id, secret = its API key),
 * makes the token-exchange grant, and accepts the answer; its errors come
 * back as the library's own ResponseBodyError with the RFC 6749 code. A
 * resource server verifies a session token itself from the published JWKS,
 * with jose.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createRemoteJWKSet, jwtVerify } from "jose";
import * as oauth from "oauth4webapi";
import { agentKeyPair, type AgentKeyPair, registerAgent, type RegisteredAgent } from "../support/agents.ts";
import {
  accessTokenType, type IssuedSessionJson, jwtTokenType, restExchange, sessionClients, type SessionStack, startSessionStack, tokenExchangeGrant, userinfo,
} from "../support/sessions.ts";

describe("token exchange through oauth4webapi", () => {
  let f: SessionStack;
  let as: oauth.AuthorizationServer;
  /** An agent with a key pair registered in its JWKS, and the session A gave it. */
  let keyed: { agent: RegisteredAgent; key: AgentKeyPair; session: IssuedSessionJson };
  /** B, which authenticates with its API key, and its session. */
  let session: IssuedSessionJson;
  const insecure = { [oauth.allowInsecureRequests]: true };

  const exchange = (client: oauth.Client, auth: oauth.ClientAuth, subjectToken: string, extra: Record<string, string> = {}) =>
    oauth.genericTokenEndpointRequest(as, client, auth, tokenExchangeGrant, { subject_token: subjectToken, subject_token_type: jwtTokenType, ...extra }, insecure);

  /** The library's ResponseBodyError for a refused exchange. */
  async function refusedBy(response: Promise<Response>, client: oauth.Client): Promise<oauth.ResponseBodyError> {
    try {
      await oauth.processGenericTokenEndpointResponse(as, client, await response);
    } catch (error) {
      assert.ok(error instanceof oauth.ResponseBodyError, `a ResponseBodyError, not ${String(error)}`);
      return error;
    }
    assert.fail("expected the exchange to be refused");
  }

  before(async () => {
    f = await startSessionStack({ idp: { accessTokenTtl: 600 } });
    const key = await agentKeyPair("ES256", "orchestrator-key-1");
    const agent = await registerAgent(f.stack.broker.url, f.stack.adminKey, { name: "keyed-agent", jwks: { keys: [key.publicJwk] } });
    const a = sessionClients.REST(f.gatewayUrl, f.agents.A.apiKey);
    keyed = { agent, key, session: await a.createSession({ connection_id: f.connectionId, agent_id: agent.id, scopes: ["openid", "profile"], ttl_seconds: 300 }) };
    session = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid", "profile"], ttl_seconds: 300 });
    const issuer = new URL(f.gatewayUrl);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }));
  });
  after(() => f?.close());

  it("discovers the Gateway from its RFC 8414 metadata", () => {
    assert.equal(as.issuer, f.gatewayUrl);
    assert.equal(as.token_endpoint, `${f.gatewayUrl}/v1/token-exchange`);
    assert.equal(as.jwks_uri, `${f.gatewayUrl}/.well-known/jwks.json`);
    assert.ok(as.grant_types_supported?.includes(tokenExchangeGrant));
    assert.ok(as.token_endpoint_auth_methods_supported?.includes("private_key_jwt") && as.token_endpoint_auth_methods_supported.includes("client_secret_basic"));
  });

  it("exchanges with private_key_jwt: the agent's own key signs the client assertion", async () => {
    const client: oauth.Client = { client_id: keyed.agent.id, token_endpoint_auth_method: "private_key_jwt" };
    const auth = oauth.PrivateKeyJwt({ key: keyed.key.privateKey, kid: keyed.key.kid });
    const result = await oauth.processGenericTokenEndpointResponse(as, client, await exchange(client, auth, keyed.session.session_token));
    assert.equal(result.token_type, "bearer");
    assert.equal(result.issued_token_type, accessTokenType);
    assert.deepEqual(result.scope?.split(" ").sort(), ["openid", "profile"]);
    assert.ok(result.expires_in !== undefined && result.expires_in <= 300);
    assert.deepEqual(await userinfo(f.idp, result.access_token), { sub: "test-user", name: "Test test-user" });
    // A second call signs a new assertion (a fresh jti): assertions are single-use, the library's are too.
    const again = await oauth.processGenericTokenEndpointResponse(as, client, await exchange(client, auth, keyed.session.session_token, { scope: "openid" }));
    assert.equal(again.scope, "openid");
  });

  it("exchanges with client_secret_basic: client id = agent id, secret = its API key", async () => {
    const client: oauth.Client = { client_id: f.agents.B.id, token_endpoint_auth_method: "client_secret_basic" };
    const result = await oauth.processGenericTokenEndpointResponse(as, client, await exchange(client, oauth.ClientSecretBasic(f.agents.B.apiKey), session.session_token, { resource: f.providerName }));
    assert.equal(result.token_type, "bearer");
    assert.deepEqual(await userinfo(f.idp, result.access_token), { sub: "test-user", name: "Test test-user" });
  });

  it("hands the library RFC 6749 errors it reports as they are", async () => {
    const b: oauth.Client = { client_id: f.agents.B.id };
    const scope = await refusedBy(exchange(b, oauth.ClientSecretBasic(f.agents.B.apiKey), session.session_token, { scope: "openid email" }), b);
    assert.deepEqual({ status: scope.status, error: scope.error }, { status: 400, error: "invalid_scope" });
    const target = await refusedBy(exchange(b, oauth.ClientSecretBasic(f.agents.B.apiKey), session.session_token, { resource: "github" }), b);
    assert.deepEqual({ status: target.status, error: target.error }, { status: 400, error: "invalid_target" });
    // Another agent's session: its own credential is fine, the grant is not.
    const keyedClient: oauth.Client = { client_id: keyed.agent.id };
    const grant = await refusedBy(exchange(keyedClient, oauth.PrivateKeyJwt({ key: keyed.key.privateKey, kid: keyed.key.kid }), session.session_token), keyedClient);
    assert.deepEqual({ status: grant.status, error: grant.error }, { status: 400, error: "invalid_grant" });
  });

  it("refuses a wrong client credential with invalid_client, challenging only the scheme the client used", async () => {
    const b: oauth.Client = { client_id: f.agents.B.id };
    // RFC 6749 section 5.2: a client that authenticated with the Authorization header is challenged with its scheme.
    const basic = await exchange(b, oauth.ClientSecretBasic("nxa_not-the-key-0123456789abcdef"), session.session_token);
    assert.equal(basic.status, 401);
    assert.equal(basic.headers.get("www-authenticate"), 'Basic realm="nexus"');
    assert.equal(((await basic.json()) as { error: string }).error, "invalid_client");
    const bearer = await restExchange(f.gatewayUrl, new URLSearchParams({ grant_type: tokenExchangeGrant, subject_token: session.session_token, subject_token_type: jwtTokenType }), { authorization: "Bearer nxa_not-the-key-0123456789abcdef" });
    assert.deepEqual({ status: bearer.status, error: bearer.body.error, challenge: bearer.headers.get("www-authenticate") }, { status: 401, error: "invalid_client", challenge: 'Bearer realm="nexus"' });
    // An assertion in the body is no HTTP authentication scheme: no challenge, and the library reads the error body.
    const stranger = await agentKeyPair("ES256", keyed.key.kid);
    const client: oauth.Client = { client_id: keyed.agent.id };
    const assertion = await refusedBy(exchange(client, oauth.PrivateKeyJwt({ key: stranger.privateKey, kid: stranger.kid }), keyed.session.session_token), client);
    assert.deepEqual({ status: assertion.status, error: assertion.error, challenge: assertion.response.headers.get("www-authenticate") }, { status: 401, error: "invalid_client", challenge: null });
  });

  it("refuses client_secret_basic whose client id is not the agent the key belongs to", async () => {
    // A's key under B's client id: without the check, the call would run as A and fail later, as someone else's session.
    const answer = async (r: Promise<Response>) => {
      const res = await r;
      return { status: res.status, error: ((await res.json()) as { error: string }).error, challenge: res.headers.get("www-authenticate") };
    };
    const refused = { status: 401, error: "invalid_client", challenge: 'Basic realm="nexus"' };
    assert.deepEqual(await answer(exchange({ client_id: f.agents.B.id }, oauth.ClientSecretBasic(f.agents.A.apiKey), session.session_token)), refused);
    // B's own key under A's client id, for B's own session: the key alone does not make the client id true.
    assert.deepEqual(await answer(exchange({ client_id: f.agents.A.id }, oauth.ClientSecretBasic(f.agents.B.apiKey), session.session_token)), refused);
  });

  it("lets a resource server verify a session token itself from the published JWKS", async () => {
    const jwks = createRemoteJWKSet(new URL(as.jwks_uri!));
    const { payload, protectedHeader } = await jwtVerify(session.session_token, jwks, { issuer: as.issuer, typ: "nexus-session+jwt", algorithms: ["ES256"] });
    assert.equal(protectedHeader.typ, "nexus-session+jwt");
    assert.deepEqual({ sub: payload.sub, jti: payload.jti, act: payload.act, scope: payload.scope }, {
      sub: "ws-user", jti: session.session_id, act: { sub: f.agents.B.id, act: { sub: f.agents.A.id } }, scope: "openid profile",
    });
  });
});
