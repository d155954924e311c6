/**
 * The thin layers Nexus keeps around oauth4webapi: the RFC 9207 issuer check
 * of the callback, the ID token claim checks of the code exchange (with the
 * injected clock), the transport options every call gets, and a client
 * without a secret.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generateKeyPair, type JWTPayload, SignJWT } from "jose";
import * as oauth from "oauth4webapi";
import { issuerRefusal } from "../../src/broker/oauth/authorization-response.ts";
import { providerHttp } from "../../src/broker/oauth/provider-http.ts";
import { processTokenResponse, requestToken } from "../../src/broker/oauth/token-endpoint.ts";
import { hangingFetch } from "../support/hanging-fetch.ts";

const issuer = "https://idp.example";
const { privateKey } = await generateKeyPair("RS256");

describe("issuerRefusal (RFC 9207)", () => {
  it("accepts the issuer itself, and a missing iss when the provider never promised one", () => {
    assert.equal(issuerRefusal({ issuer, issRequired: true }, issuer), undefined);
    assert.equal(issuerRefusal({ issuer, issRequired: false }, ""), undefined);
  });

  it("refuses another issuer, byte for byte, and a missing iss the provider promised", () => {
    for (const other of ["https://evil.example", `${issuer}/`, "HTTPS://IDP.EXAMPLE"]) {
      assert.equal(issuerRefusal({ issuer, issRequired: false }, other), "iss_mismatch", other);
    }
    assert.equal(issuerRefusal({ issuer, issRequired: true }, ""), "iss_missing");
  });

  it("cannot check anything for a provider without an issuer", () => {
    assert.equal(issuerRefusal({ issuer: "", issRequired: false }, "https://anything.example"), undefined);
  });
});

describe("ID token claims at the code exchange", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const nowS = now / 1000;
  const expect = { issuer, clientId: "client-1", nonce: "n-1" };
  const claims = (edit: JWTPayload = {}): JWTPayload => ({ iss: issuer, aud: "client-1", sub: "u", iat: nowS - 10, exp: nowS + 300, nonce: "n-1", ...edit });
  const signed = (payload: JWTPayload, alg = "RS256") =>
    alg === "HS256"
      ? new SignJWT(payload).setProtectedHeader({ alg }).sign(new TextEncoder().encode("a-client-secret-of-32-bytes-long!"))
      : new SignJWT(payload).setProtectedHeader({ alg }).sign(privateKey);
  const exchange = async (idToken: string | undefined) =>
    processTokenResponse(Response.json({ access_token: "at", token_type: "Bearer", ...(idToken === undefined ? {} : { id_token: idToken }) }), now, { idToken: expect });

  it("accepts matching claims, read on the injected clock, and returns the token for its signature check", async () => {
    const token = await signed(claims({ exp: nowS - 60 }));
    const result = await exchange(token);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.tokens.idToken, token);
  });

  it("refuses a missing token, a wrong nonce, issuer or audience, an untrusted extra audience, an expired token and a symmetric alg", async () => {
    const invalid = { ok: false, kind: "id_token_invalid", status: 200, error: "id_token_invalid" };
    assert.deepEqual(await exchange(undefined), invalid);
    for (const edit of [{ nonce: "n-2" }, { nonce: undefined }, { iss: `${issuer}/` }, { aud: "someone-else" }, { aud: ["client-1", "api"] }, { exp: nowS - 600 }, { sub: undefined }]) {
      assert.deepEqual(await exchange(await signed(claims(edit))), invalid, JSON.stringify(edit));
    }
    assert.deepEqual(await exchange(await signed(claims(), "HS256")), invalid);
    assert.deepEqual(await exchange("not-a-jwt"), invalid);
  });

  it("passes an ID token nobody asked for through unchecked, without failing the exchange", async () => {
    const result = await processTokenResponse(Response.json({ access_token: "at", id_token: "junk" }), now);
    assert.ok(result.ok && result.tokens.idToken === "junk");
  });
});

describe("providerHttp", () => {
  it("allows plain http to loopback hosts only; the outbound policy decides whether those are allowed at all", () => {
    const insecure = (url: string) => providerHttp(new URL(url), { fetch: hangingFetch(), timeoutMs: 10 })[oauth.allowInsecureRequests];
    assert.equal(insecure("http://127.0.0.1:4000/token"), true);
    assert.equal(insecure("http://localhost/token"), true);
    assert.equal(insecure("http://[::1]/token"), true);
    assert.equal(insecure("http://idp.example/token"), false);
    assert.equal(insecure("https://idp.example/token"), false);
  });

  it("refuses plain http to any other host before sending", async () => {
    let sent = 0;
    const fetch = async () => {
      sent++;
      return Response.json({});
    };
    const client = { tokenEndpoint: "http://idp.example/token", clientId: "c", clientSecret: "s", authMethod: "client_secret_basic" as const };
    await assert.rejects(requestToken(client, { type: "refresh_token", refreshToken: "rt" }, { fetch }), (error: unknown) => {
      assert.ok(error instanceof oauth.OperationProcessingError && error.code === oauth.HTTP_REQUEST_FORBIDDEN, String(error));
      return true;
    });
    assert.equal(sent, 0);
  });

  it("puts a deadline on every request oauth4webapi makes", async () => {
    const http = providerHttp(new URL("https://idp.example/"), { fetch: hangingFetch(), timeoutMs: 20 });
    await assert.rejects(oauth.discoveryRequest(new URL("https://idp.example"), http), { name: "TimeoutError" });
  });
});

describe("a client without a secret", () => {
  it("sends its client_id alone, as a public client", async () => {
    const sent: RequestInit[] = [];
    const fetch = async (_url: string | URL | Request, init?: RequestInit) => {
      sent.push(init ?? {});
      return Response.json({ access_token: "at" });
    };
    await requestToken({ tokenEndpoint: "https://idp.example/token", clientId: "c", clientSecret: "", authMethod: "client_secret_basic" }, { type: "refresh_token", refreshToken: "rt" }, { fetch });
    assert.equal(new Headers(sent[0]!.headers).get("authorization"), null);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(String(sent[0]!.body))), { grant_type: "refresh_token", refresh_token: "rt", client_id: "c" });
  });
});
