/**
 * Forged, altered and misused session tokens at POST /v1/token-exchange
 * (issue 17). Each is refused with the RFC 6749 error a client can act on and
 * its HTTP status: the signature must be Nexus's (ES256 from its JWKS, no
 * `none`, no HMAC keyed with the public key), the type must be
 * `nexus-session+jwt` (an IdP's id_token is not a session), the claims must be
 * the ones Nexus signed, and what the token names must still be live and
 * match what is asked. Some forgeries are signed with Nexus's real private key
 * (read from the database through the vault, as only a thief of both could)
 * to show the checks behind the signature hold on their own.
 */
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { exportSPKI, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from "jose";
import { defaultKeyId } from "../../src/broker/config.ts";
import { sealedFields } from "../../src/broker/domain/sealed-fields.ts";
import { createKeyRing } from "../../src/broker/vault/key-ring.ts";
import { createVault } from "../../src/broker/vault/vault.ts";
import { b64json, registerAgent } from "../support/agents.ts";
import { brokerRest, recordingFetch, registerProvider } from "../support/broker-api.ts";
import {
  connect, decodeJwt, type IssuedSessionJson, jwtTokenType, refusal, restExchange, sessionClients, type SessionStack, type SessionTestClient,
  startSessionStack, tokenExchangeGrant,
} from "../support/sessions.ts";

describe("token exchange refuses forged, altered and misused session tokens", () => {
  let f: SessionStack;
  const recorder = recordingFetch();
  let a: SessionTestClient;
  let b: SessionTestClient;
  /** A's session for B on the OAuth connection: openid profile. */
  let sb: IssuedSessionJson;
  /** Nexus's current signing key, as a thief of the database and the vault key would hold it. */
  let nexusKey: { kid: string; key: CryptoKey; publicJwk: JWK };
  /** A's second connection, to a static-key provider. */
  let keyedConnection: string;

  /** Exchanges `token` as `key` (B by default) over REST with a form; the RFC 6749 answer. */
  const exchange = (token: string, extra: Record<string, string> = {}, key = f.agents.B.apiKey) =>
    restExchange(f.gatewayUrl, new URLSearchParams({ grant_type: tokenExchangeGrant, subject_token: token, subject_token_type: jwtTokenType, ...extra }), { authorization: `Bearer ${key}` });

  /** Asserts an RFC 6749 error body: exactly error and error_description, not cacheable. */
  async function refused(answer: ReturnType<typeof exchange>, error: string, status: number, what: string): Promise<string> {
    const r = await answer;
    assert.deepEqual({ status: r.status, error: r.body.error }, { status, error }, `${what}: ${JSON.stringify(r.body)}`);
    assert.deepEqual(Object.keys(r.body).sort(), ["error", "error_description"], what);
    assert.equal(r.headers.get("cache-control"), "no-store", what);
    return String(r.body.error_description);
  }

  /** The token with its payload replaced and the original signature kept. */
  function tampered(token: string, change: (p: Record<string, unknown>) => void): string {
    const [h, , s] = token.split(".");
    const { payload } = decodeJwt(token);
    change(payload);
    return `${h}.${b64json(payload)}.${s}`;
  }

  /** A JWT over `payload` signed with Nexus's real key, with `header` on top of the usual one. */
  function signedByNexus(payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid: nexusKey.kid, typ: "nexus-session+jwt", ...header }).sign(nexusKey.key);
  }

  before(async () => {
    // Provider tokens live 10 minutes, so narrowed ones are cached: a refusal must not be answered from that cache.
    f = await startSessionStack({ fetch: recorder.fetch, idp: { accessTokenTtl: 600 } });
    a = sessionClients.REST(f.gatewayUrl, f.agents.A.apiKey);
    b = sessionClients.REST(f.gatewayUrl, f.agents.B.apiKey);
    sb = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: ["openid", "profile"], ttl_seconds: 600 });
    assert.equal((await exchange(sb.session_token)).status, 200, "the genuine token is accepted");

    const [row] = await f.stack.db.sql<{ kid: string; privateJwkCt: string; publicJwk: JWK }[]>`select kid, private_jwk_ct, public_jwk from session_signing_keys order by created_at desc limit 1`;
    const vault = createVault(createKeyRing(new Map([[defaultKeyId, Buffer.from(f.stack.brokerEnv.ENCRYPTION_KEY!, "base64")]]), defaultKeyId));
    const privateJwk = JSON.parse(vault.openText(row!.privateJwkCt, { ...sealedFields.sessionSigningKey, rowId: row!.kid })) as JWK;
    nexusKey = { kid: row!.kid, key: (await importJWK(privateJwk, "ES256")) as CryptoKey, publicJwk: row!.publicJwk };
    assert.equal(decodeJwt(sb.session_token).header.kid, nexusKey.kid);

    await registerProvider(f.stack, { name: "keyed", auth_type: "api_key" });
    const started = await fetch(`${f.gatewayUrl}/v1/request-connection`, {
      method: "POST", headers: { authorization: `Bearer ${f.agents.A.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: "ws-user", provider_name: "keyed", return_url: "https://app.example.com/back" }),
    }).then((r) => r.json()) as { connection_id: string; state: string };
    const captured = await fetch(`${f.gatewayUrl}/v1/capture-credential`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ state: started.state, credentials: { api_key: "static-key-0123456789" } }),
    });
    assert.equal(captured.status, 200);
    keyedConnection = started.connection_id;
  });
  after(() => f?.close());

  it("refuses alg none", async () => {
    const [, payload] = sb.session_token.split(".");
    for (const alg of ["none", "None", "NONE"]) {
      const unsigned = `${b64json({ alg, kid: nexusKey.kid, typ: "nexus-session+jwt" })}.${payload}.`;
      await refused(exchange(unsigned), "invalid_grant", 400, `alg ${alg}`);
    }
  });

  it("refuses HS256 keyed with the published public key, in each form it is published or derived", async () => {
    const jwks = (await (await fetch(`${f.gatewayUrl}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const published = jwks.keys.find((k) => k.kid === nexusKey.kid)!;
    assert.ok(published !== undefined && published.d === undefined, "the JWKS publishes the public half only");
    const spki = await exportSPKI(createPublicKey({ key: published as never, format: "jwk" }) as never);
    const secrets = [JSON.stringify(published), spki, spki.trim(), createPublicKey({ key: published as never, format: "jwk" }).export({ type: "spki", format: "der" })];
    const { payload } = decodeJwt(sb.session_token);
    for (const [i, secret] of secrets.entries()) {
      const hmac = await new SignJWT(payload).setProtectedHeader({ alg: "HS256", kid: nexusKey.kid, typ: "nexus-session+jwt" })
        .sign(typeof secret === "string" ? new TextEncoder().encode(secret) : new Uint8Array(secret));
      await refused(exchange(hmac), "invalid_grant", 400, `HS256 with public key form ${i}`);
    }
  });

  it("refuses tokens of another type: the IdP's id_token, and session claims signed by Nexus but typed JWT or untyped", async () => {
    const idToken = recorder.tokenResponses.map((r) => (JSON.parse(r) as { id_token?: string }).id_token).find((t) => t !== undefined);
    assert.ok(idToken !== undefined, "the IdP issued an id_token to the Broker");
    assert.equal(decodeJwt(idToken).payload.iss, f.idp.issuer);
    await refused(exchange(idToken), "invalid_grant", 400, "an id_token");
    await refused(exchange(idToken, { subject_token_type: "urn:ietf:params:oauth:token-type:id_token" }), "invalid_request", 400, "an id_token typed as one");
    const { payload } = decodeJwt(sb.session_token);
    for (const typ of ["JWT", "at+jwt", "application/nexus-session+jwt-x", undefined]) {
      await refused(exchange(await signedByNexus(payload, { typ })), "invalid_grant", 400, `typ ${typ}`);
    }
    // The same claims under the right type pass: the type alone made the difference.
    assert.equal((await exchange(await signedByNexus(payload))).status, 200);
  });

  it("refuses an unknown kid, and a stranger's key claiming Nexus's kid", async () => {
    const { privateKey } = await generateKeyPair("ES256");
    const { payload } = decodeJwt(sb.session_token);
    for (const kid of ["not-a-nexus-key", nexusKey.kid, undefined]) {
      const forged = await new SignJWT(payload).setProtectedHeader({ alg: "ES256", typ: "nexus-session+jwt", ...(kid === undefined ? {} : { kid }) }).sign(privateKey);
      await refused(exchange(forged), "invalid_grant", 400, `stranger's key, kid ${kid}`);
    }
  });

  it("refuses tampered claims: the signature no longer matches", async () => {
    const cases: [string, (p: Record<string, unknown>) => void, string][] = [
      ["scope widened", (p) => (p.scope = "openid profile email"), f.agents.B.apiKey],
      ["act.sub changed to C, presented by C", (p) => (p.act = { sub: f.agents.C.id, act: { sub: f.agents.A.id } }), f.agents.C.apiKey],
      ["nexus_connection_id changed", (p) => (p.nexus_connection_id = keyedConnection), f.agents.B.apiKey],
      ["exp extended", (p) => (p.exp = Number(p.exp) + 86_400), f.agents.B.apiKey],
      ["iss changed", (p) => (p.iss = "https://nexus.evil.test"), f.agents.B.apiKey],
    ];
    for (const [what, change, key] of cases) {
      await refused(exchange(tampered(sb.session_token, change), { scope: "openid" }, key), "invalid_grant", 400, what);
    }
  });

  it("checks what a token names against the database, even under a valid signature", async () => {
    const { payload } = decodeJwt(sb.session_token);
    // The clearance is the session's, not the token's scope claim.
    await refused(exchange(await signedByNexus({ ...payload, scope: "openid profile email" }), { scope: "email" }), "invalid_scope", 400, "scope claim widened");
    // The holder is the session's: a token naming C as actor of B's session is nobody's.
    await refused(exchange(await signedByNexus({ ...payload, act: { sub: f.agents.C.id } }), {}, f.agents.C.apiKey), "invalid_grant", 400, "act.sub C on B's session");
    await refused(exchange(await signedByNexus({ ...payload, nexus_connection_id: keyedConnection })), "invalid_grant", 400, "B's session on another connection");
    await refused(exchange(await signedByNexus({ ...payload, jti: crypto.randomUUID() })), "invalid_grant", 400, "a session that does not exist");
    await refused(exchange(await signedByNexus({ ...payload, iss: "https://nexus.evil.test" })), "invalid_grant", 400, "another issuer");
    await refused(exchange(await signedByNexus({ ...payload, exp: Math.floor(Date.now() / 1000) - 5 })), "invalid_grant", 400, "expired by its exp");
  });

  it("refuses a resource that is not the session's provider, and a session for another connection", async () => {
    await refused(exchange(sb.session_token, { resource: "keyed" }), "invalid_target", 400, "another provider");
    await refused(exchange(sb.session_token, { resource: "https://api.github.com" }), "invalid_target", 400, "a URL");
    assert.equal((await exchange(sb.session_token, { resource: f.providerName })).status, 200, "its own provider");
    const keyed = await a.createSession({ connection_id: keyedConnection, agent_id: f.agents.B.id, ttl_seconds: 300 });
    await refused(exchange(keyed.session_token, { resource: f.providerName }), "invalid_target", 400, "the static connection's session naming the OAuth provider");
    const ok = await exchange(keyed.session_token, { resource: "keyed" });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.access_token, "static-key-0123456789");
    assert.equal(ok.body.token_type, "N_A");
  });

  it("refuses a session whose ancestor was revoked, and leaves the parent alone when a child is revoked", async () => {
    const parent = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, ttl_seconds: 300 });
    const c = sessionClients.REST(f.gatewayUrl, f.agents.C.apiKey);
    const child = await b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, scopes: ["openid"], parent_session_id: parent.session_id });
    const grandchild = await c.createSession({ connection_id: f.connectionId, agent_id: f.agents.A.id, scopes: ["openid"], parent_session_id: child.session_id });
    assert.deepEqual(decodeJwt(grandchild.session_token).payload.act, { sub: f.agents.A.id, act: { sub: f.agents.C.id, act: { sub: f.agents.B.id, act: { sub: f.agents.A.id } } } });
    assert.equal((await exchange(grandchild.session_token, {}, f.agents.A.apiKey)).status, 200);
    await b.revokeSession(child.session_id);
    assert.equal((await exchange(parent.session_token)).status, 200, "revoking a child leaves its parent live");
    await refused(exchange(child.session_token, {}, f.agents.C.apiKey), "invalid_grant", 400, "the revoked child");
    await refused(exchange(grandchild.session_token, {}, f.agents.A.apiKey), "invalid_grant", 400, "a grandchild of a revoked session");
  });

  it("refuses a session whose connection was revoked, even with a narrowed token cached for it", async () => {
    const other = await connect(f.gatewayUrl, f.agents.A.apiKey, f.stack, f.idp, "ws-other", f.providerName);
    const s = await a.createSession({ connection_id: other, agent_id: f.agents.B.id, scopes: ["openid"], ttl_seconds: 300 });
    const first = await exchange(s.session_token);
    assert.equal(first.status, 200);
    assert.equal((await exchange(s.session_token)).body.access_token, first.body.access_token, "the narrowed token is cached");
    assert.equal((await brokerRest(f.stack, "DELETE", `/connections/${other}`)).status, 200);
    const description = await refused(exchange(s.session_token), "invalid_grant", 400, "a revoked connection's session");
    assert.match(description, /revoked/);
  });

  it("refuses a token once its agent is disabled, and a session token used as an agent credential", async () => {
    const e = await registerAgent(f.stack.broker.url, f.stack.adminKey, { name: "agent-e" });
    const se = await a.createSession({ connection_id: f.connectionId, agent_id: e.id, ttl_seconds: 300 });
    assert.equal((await exchange(se.session_token, {}, e.apiKey)).status, 200);
    assert.equal((await brokerRest(f.stack, "DELETE", `/agents/${e.id}`)).status, 200);
    await refused(exchange(se.session_token, {}, e.apiKey), "invalid_client", 401, "the disabled agent's own key");
    // No one else may exchange it in its place, and it cannot be delegated to a disabled agent.
    await refused(exchange(se.session_token, {}, f.agents.A.apiKey), "invalid_grant", 400, "the owner presenting it");
    assert.equal((await refusal(a.createSession({ connection_id: f.connectionId, agent_id: e.id }))).error, "invalid_argument");
    // A session token is not a credential: not for the token endpoint, not for the rest of the API.
    await refused(exchange(sb.session_token, {}, sb.session_token), "invalid_client", 401, "the session token as the bearer");
    const asBearer = await fetch(`${f.gatewayUrl}/v1/token/${f.connectionId}`, { headers: { authorization: `Bearer ${sb.session_token}` } });
    await asBearer.body?.cancel();
    assert.equal(asBearer.status, 401);
  });

  it("refuses a session once an agent that delegated it is disabled: disabling an orchestrator cuts off its sub-agents", async () => {
    const g = await registerAgent(f.stack.broker.url, f.stack.adminKey, { name: "agent-g" });
    const own = await connect(f.gatewayUrl, g.apiKey, f.stack, f.idp, "ws-g", f.providerName);
    const toB = await sessionClients.REST(f.gatewayUrl, g.apiKey).createSession({ connection_id: own, agent_id: f.agents.B.id, scopes: ["openid"], ttl_seconds: 300 });
    assert.equal((await exchange(toB.session_token)).status, 200);
    assert.equal((await brokerRest(f.stack, "DELETE", `/agents/${g.id}`)).status, 200);
    const description = await refused(exchange(toB.session_token), "invalid_grant", 400, "a session whose delegator is disabled");
    assert.match(description, /delegated this session is disabled/);
  });

  it("tells an agent that may not use a connection nothing about it when it asks for a session on it", async () => {
    // A's connection still waiting for its user: B, which holds nothing on it, must learn no more than for an active one.
    const pending = await fetch(`${f.gatewayUrl}/v1/request-connection`, {
      method: "POST", headers: { authorization: `Bearer ${f.agents.A.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: "ws-pending", provider_name: f.providerName, return_url: "https://app.example.com/back" }),
    }).then((r) => r.json()) as { connection_id: string };
    const c = sessionClients.REST(f.gatewayUrl, f.agents.C.apiKey);
    const onActive = await refusal(c.createSession({ connection_id: keyedConnection, agent_id: f.agents.C.id }));
    const onPending = await refusal(c.createSession({ connection_id: pending.connection_id, agent_id: f.agents.C.id }));
    assert.deepEqual({ error: onPending.error, status: onPending.status }, { error: onActive.error, status: onActive.status });
    assert.equal(onActive.error, "agent_not_authorized");
    // Its owner is told why.
    assert.equal((await refusal(a.createSession({ connection_id: pending.connection_id, agent_id: f.agents.C.id }))).error, "connection_pending");
  });

  it("refuses malformed requests with invalid_request, unsupported_grant_type or invalid_client", async () => {
    await refused(exchange(sb.session_token, { grant_type: "client_credentials" }), "unsupported_grant_type", 400, "another grant");
    await refused(exchange(sb.session_token, { subject_token_type: "urn:ietf:params:oauth:token-type:saml2" }), "invalid_request", 400, "another token type");
    await refused(exchange(""), "invalid_request", 400, "no subject_token");
    await refused(exchange(sb.session_token, { actor_token: sb.session_token, actor_token_type: jwtTokenType }), "invalid_request", 400, "an actor_token");
    await refused(exchange(sb.session_token, { requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token" }), "invalid_request", 400, "a refresh token asked for");
    await refused(exchange(sb.session_token, { client_id: f.agents.A.id }), "invalid_client", 401, "client_id of another agent");
    await refused(restExchange(f.gatewayUrl, new URLSearchParams({ grant_type: tokenExchangeGrant, subject_token: sb.session_token, subject_token_type: jwtTokenType }), {}), "invalid_client", 401, "no credential");
    await refused(exchange("not.a.jwt"), "invalid_grant", 400, "garbage");
    // JSON is accepted as well as the form.
    const json = await restExchange(f.gatewayUrl, { grant_type: tokenExchangeGrant, subject_token: sb.session_token, subject_token_type: jwtTokenType, scope: "openid" }, { authorization: `Bearer ${f.agents.B.apiKey}` });
    assert.deepEqual({ status: json.status, scope: json.body.scope }, { status: 200, scope: "openid" });
    assert.equal((await b.exchange({ subject_token: sb.session_token, client_id: f.agents.B.id })).scope.split(" ").sort().join(" "), "openid profile", "its own client_id is fine");
  });
});
