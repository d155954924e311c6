/**
 * Authorization URL building (security.md S-01, S-02, S-05) and PKCE.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { NexusError } from "../../src/shared/errors.ts";
import {
  assertExtraParamsAllowed,
  buildAuthorizationUrl,
  reservedAuthorizeParams,
  type AuthorizationUrlInput,
} from "../../src/broker/oauth/authorization-url.ts";
import { createPkce, pkceChallenge, randomToken } from "../../src/broker/oauth/pkce.ts";

const base: AuthorizationUrlInput = {
  authorizationEndpoint: "https://idp.example/authorize",
  clientId: "client-1",
  redirectUri: "https://nexus.example/auth/callback",
  scopes: ["openid", "email"],
  state: "st4te",
  codeChallenge: "ch4llenge",
  nonce: "n0nce",
};

function paramsOf(url: string): URLSearchParams {
  return new URL(url).searchParams;
}

function assertInvalid(fn: () => unknown, field: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof NexusError, String(error));
    assert.equal(error.reason, "invalid_argument");
    assert.equal(error.field, field);
    assert.match(error.message, pattern);
    return true;
  });
}

describe("buildAuthorizationUrl", () => {
  it("sets every standard parameter", () => {
    const url = buildAuthorizationUrl(base);
    assert.ok(url.startsWith("https://idp.example/authorize?"));
    assert.deepEqual(Object.fromEntries(paramsOf(url)), {
      response_type: "code",
      client_id: "client-1",
      redirect_uri: "https://nexus.example/auth/callback",
      scope: "openid email",
      state: "st4te",
      code_challenge: "ch4llenge",
      code_challenge_method: "S256",
      nonce: "n0nce",
    });
  });

  it("encodes spaces in scope as %20, never +", () => {
    const url = buildAuthorizationUrl(base);
    assert.match(url, /[?&]scope=openid%20email(&|$)/);
    assert.ok(!url.includes("+"));
    assert.match(url, /redirect_uri=https%3A%2F%2Fnexus\.example%2Fauth%2Fcallback/);
  });

  it("joins scopes with a custom separator", () => {
    const url = buildAuthorizationUrl({ ...base, scopes: ["repo", "user"], scopeSeparator: "," });
    assert.equal(paramsOf(url).get("scope"), "repo,user");
    assert.match(url, /scope=repo%2Cuser/);
  });

  it("omits scope entirely (never scope=) with no scopes or skipScope", () => {
    for (const url of [buildAuthorizationUrl({ ...base, scopes: [] }), buildAuthorizationUrl({ ...base, skipScope: true })]) {
      assert.equal(paramsOf(url).has("scope"), false);
      assert.ok(!url.includes("scope="));
    }
  });

  it("omits PKCE and nonce when not given", () => {
    const { codeChallenge: _c, nonce: _n, ...rest } = base;
    const params = paramsOf(buildAuthorizationUrl(rest));
    assert.equal(params.has("code_challenge"), false);
    assert.equal(params.has("code_challenge_method"), false);
    assert.equal(params.has("nonce"), false);
  });

  it("keeps the endpoint's own query parameters but not its reserved ones", () => {
    const url = buildAuthorizationUrl({
      ...base,
      authorizationEndpoint: "https://idp.example/oauth2/v2.0/authorize?p=B2C_1_signin&response_type=token&client_id=evil",
    });
    const params = paramsOf(url);
    assert.equal(params.get("p"), "B2C_1_signin");
    assert.deepEqual(params.getAll("response_type"), ["code"]);
    assert.deepEqual(params.getAll("client_id"), ["client-1"]);
    assert.equal(new URL(url).pathname, "/oauth2/v2.0/authorize");
  });

  it("drops the endpoint's own reserved parameters whatever their case (Client_ID, STATE, Redirect_Uri)", () => {
    const url = buildAuthorizationUrl({
      ...base,
      authorizationEndpoint: "https://idp.example/authorize?Client_ID=evil&STATE=x&Redirect_Uri=https%3A%2F%2Fevil.example%2F&Response_Mode=form_post&NONCE=n&Scope=admin&tenant=t1",
    });
    const keys = [...paramsOf(url).keys()];
    for (const reserved of reservedAuthorizeParams) {
      assert.deepEqual(keys.filter((k) => k.toLowerCase() === reserved), paramsOf(url).has(reserved) ? [reserved] : [], `${reserved} in ${url}`);
    }
    assert.equal(paramsOf(url).get("client_id"), "client-1");
    assert.equal(paramsOf(url).get("tenant"), "t1");
    assert.ok(!url.includes("evil"), url);
  });

  it("lets an extra parameter replace the endpoint's own of any case", () => {
    const url = buildAuthorizationUrl({ ...base, authorizationEndpoint: "https://idp.example/authorize?Prompt=none&PROMPT=login", extraParams: { prompt: "consent" } });
    assert.deepEqual([...paramsOf(url).keys()].filter((k) => k.toLowerCase() === "prompt"), ["prompt"]);
    assert.equal(paramsOf(url).get("prompt"), "consent");
  });

  it("adds extra parameters, which may replace the endpoint's own but never reserved ones", () => {
    const url = buildAuthorizationUrl({
      ...base,
      authorizationEndpoint: "https://idp.example/authorize?prompt=none",
      extraParams: { access_type: "offline", prompt: "consent", audience: "https://api.example/ a&b" },
    });
    const params = paramsOf(url);
    assert.equal(params.get("access_type"), "offline");
    assert.deepEqual(params.getAll("prompt"), ["consent"]);
    assert.equal(params.get("audience"), "https://api.example/ a&b");
    for (const key of ["client_id", "redirect_uri", "state"]) {
      assertInvalid(() => buildAuthorizationUrl({ ...base, extraParams: { [key]: "evil" } }), "params.authorize_params", new RegExp(key));
    }
  });

  it("rejects invalid scopes and empty required values", () => {
    assertInvalid(() => buildAuthorizationUrl({ ...base, scopes: ["openid email"] }), "scopes", /openid email/);
    assertInvalid(() => buildAuthorizationUrl({ ...base, scopes: [""] }), "scopes", /valid scope/);
    assertInvalid(() => buildAuthorizationUrl({ ...base, scopes: ["a,b"], scopeSeparator: "," }), "scopes", /a,b/);
    assertInvalid(() => buildAuthorizationUrl({ ...base, state: "" }), "state", /empty/);
    assertInvalid(() => buildAuthorizationUrl({ ...base, authorizationEndpoint: "not a url" }), "auth_url", /absolute URL/);
  });
});

describe("assertExtraParamsAllowed", () => {
  it("rejects every reserved name, case-insensitively, naming it", () => {
    assert.ok(reservedAuthorizeParams.includes("code_challenge_method"));
    assert.ok(reservedAuthorizeParams.includes("nonce"));
    for (const key of reservedAuthorizeParams) {
      assertInvalid(() => assertExtraParamsAllowed({ [key]: "x" }), "params.authorize_params", new RegExp(`"${key}"`));
      assertInvalid(() => assertExtraParamsAllowed({ [key.toUpperCase()]: "x" }), "params.authorize_params", /cannot be overridden/);
    }
  });

  it("rejects a reserved name in any mix of case, and one name given twice in different cases", () => {
    for (const key of ["Client_Id", "rEdIrEcT_uRi", "State", "Code_Challenge", "Code_Challenge_Method", "Nonce", "Scope", "Response_Type"]) {
      assertInvalid(() => assertExtraParamsAllowed({ [key]: "x" }), "params.authorize_params", /cannot be overridden/);
    }
    assertInvalid(() => assertExtraParamsAllowed({ prompt: "consent", PROMPT: "none" }), "params.authorize_params", /given twice/);
  });

  it("accepts ordinary parameters and rejects non-string values", () => {
    assertExtraParamsAllowed({ access_type: "offline", prompt: "consent", resource: "https://api.example" });
    assertInvalid(() => assertExtraParamsAllowed({ prompt: true }), "params.authorize_params", /prompt/);
    assertInvalid(() => assertExtraParamsAllowed({ "": "x" }), "params.authorize_params", /empty/);
  });
});

describe("PKCE", () => {
  it("creates a 43-character verifier and its S256 challenge", async () => {
    const { verifier, challenge } = await createPkce();
    assert.match(verifier, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(challenge, createHash("sha256").update(verifier).digest("base64url"));
  });

  it("computes the challenge of a given verifier like node:crypto does", async () => {
    const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r7wW1gFWFOEjXk";
    assert.equal(await pkceChallenge(verifier), createHash("sha256").update(verifier).digest("base64url"));
  });

  it("never repeats", async () => {
    const verifiers = new Set<string>();
    for (let i = 0; i < 200; i++) verifiers.add((await createPkce()).verifier);
    assert.equal(verifiers.size, 200);
  });

  it("randomToken gives base64url of the requested size and refuses weak sizes", () => {
    assert.match(randomToken(), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(randomToken(16), "base64url").length, 16);
    assert.throws(() => randomToken(8), RangeError);
  });
});
