/**
 * Provider quirks (src/broker/oauth/quirks.ts): each adapter on its own, then
 * through the token endpoint the way a profile's `params.quirks` and
 * `params.keep_token_fields` reach it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NexusError } from "../../src/shared/errors.ts";
import { classifyTokenFailure } from "../../src/broker/domain/refresh-policy.ts";
import {
  adaptAnswer,
  adaptRequest,
  errorIn200,
  formEncodedResponse,
  jsonRequestBody,
  keepTokenFields,
  knownQuirks,
  parseKeepTokenFields,
  parseQuirks,
  quirkAdapters,
  quirkNames,
  type TokenAnswer,
} from "../../src/broker/oauth/quirks.ts";
import { processTokenResponse, requestToken, type TokenClient } from "../../src/broker/oauth/token-endpoint.ts";
import { revokeToken } from "../../src/broker/oauth/revocation.ts";

const now = Date.parse("2026-01-01T00:00:00Z");

function answer(status: number, text: string | undefined, body?: Record<string, unknown>): TokenAnswer {
  return { status, headers: new Headers(), text, body: body ?? (text === undefined ? undefined : tryJson(text)) };
}

function tryJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

describe("the quirk list", () => {
  it("names an adapter for every quirk, and nothing else", () => {
    assert.deepEqual(Object.keys(quirkAdapters).sort(), [...quirkNames].sort());
    for (const name of quirkNames) {
      const adapter = quirkAdapters[name];
      assert.ok(adapter.request !== undefined || adapter.answer !== undefined, name);
    }
  });

  it("parseQuirks accepts known names once each and names the field otherwise", () => {
    assert.deepEqual(parseQuirks(["error_in_200", "form_encoded_response"]), ["error_in_200", "form_encoded_response"]);
    assert.deepEqual(parseQuirks([]), []);
    for (const bad of [["accept_json"], ["error_in_200", "error_in_200"], [42], ["ERROR_IN_200"]]) {
      assert.throws(() => parseQuirks(bad, "profile.params.quirks"), (error: unknown) => {
        assert.ok(error instanceof NexusError && error.reason === "invalid_argument" && error.field === "profile.params.quirks", String(error));
        return true;
      }, JSON.stringify(bad));
    }
  });

  it("knownQuirks keeps known names in adapter order", () => {
    assert.deepEqual(knownQuirks(["error_in_200", "gone", "json_request_body"]), ["json_request_body", "error_in_200"]);
  });

  it("runs answer adapters in list order whatever the profile's order: a form body is parsed before its error is seen", () => {
    const form = answer(200, "error=bad_verification_code&error_description=The+code+is+wrong");
    for (const quirks of [["error_in_200", "form_encoded_response"], ["form_encoded_response", "error_in_200"]] as const) {
      const adapted = adaptAnswer(quirks, form);
      assert.equal(adapted.status, 400);
      assert.deepEqual(adapted.body, { error: "bad_verification_code" });
    }
    assert.equal(adaptAnswer([], form).body, undefined, "without quirks nothing changes");
  });
});

describe("json_request_body", () => {
  it("sends the form's fields as a JSON object with a JSON content type", () => {
    const headers = new Headers({ "content-type": "application/x-www-form-urlencoded;charset=UTF-8", authorization: "Basic x" });
    const out = jsonRequestBody({ headers, body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "rt" }) });
    assert.equal(out.headers.get("content-type"), "application/json");
    assert.equal(out.headers.get("authorization"), "Basic x", "client authentication in the header stays");
    assert.deepEqual(JSON.parse(String(out.body)), { grant_type: "refresh_token", refresh_token: "rt" });
    assert.equal(headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8", "the input is not changed");
  });

  it("reaches the token and revocation requests, client_secret_post credentials inside the JSON", async () => {
    const sent: Array<{ headers: Headers; body: string }> = [];
    const fetch = async (_url: string | URL | Request, init?: RequestInit) => {
      sent.push({ headers: new Headers(init?.headers), body: String(init?.body) });
      return new Response(JSON.stringify({ access_token: "at" }), { headers: { "content-type": "application/json" } });
    };
    const client: TokenClient = {
      tokenEndpoint: "https://api.notion.example/v1/oauth/token", clientId: "cid", clientSecret: "sec", authMethod: "client_secret_post", quirks: ["json_request_body"],
    };
    await requestToken(client, { type: "authorization_code", code: "c", redirectUri: "https://nexus.example/cb", codeVerifier: "v".repeat(43) }, { fetch });
    await revokeToken({ ...client, revocationEndpoint: "https://api.notion.example/v1/oauth/revoke" }, "rt", "refresh_token", { fetch });
    assert.equal(sent[0]!.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(sent[0]!.body), {
      redirect_uri: "https://nexus.example/cb", code: "c", code_verifier: "v".repeat(43), grant_type: "authorization_code", client_id: "cid", client_secret: "sec",
    });
    assert.deepEqual(JSON.parse(sent[1]!.body), { token_type_hint: "refresh_token", token: "rt", client_id: "cid", client_secret: "sec" });
  });
});

describe("form_encoded_response", () => {
  it("reads a form-encoded token answer", () => {
    const out = formEncodedResponse(answer(200, "access_token=gho_1&scope=repo%2Cgist&token_type=bearer"));
    assert.deepEqual(out.body, { access_token: "gho_1", scope: "repo,gist", token_type: "bearer" });
  });

  it("leaves JSON, HTML, empty bodies and forms without access_token or error alone", () => {
    const json = answer(200, '{"access_token":"at"}');
    assert.equal(formEncodedResponse(json), json);
    for (const text of ["<html><body>oops</body></html>", "", "hello=world", "a b=c"]) {
      assert.equal(formEncodedResponse(answer(200, text)).body, undefined, text);
    }
    assert.equal(formEncodedResponse(answer(200, undefined)).body, undefined);
  });

  it("is what makes a form-encoded 200 a success at the token endpoint (without it, C-21 refuses it)", async () => {
    const form = () => new Response("access_token=at&token_type=bearer&expires_in=3600", { headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.deepEqual(await processTokenResponse(form(), now), { ok: false, kind: "rejected", status: 200, error: "invalid_token_response" });
    const result = await processTokenResponse(form(), now, { quirks: ["form_encoded_response"] });
    assert.deepEqual(result, { ok: true, tokens: { accessToken: "at", tokenType: "Bearer", expiresIn: 3600 } });
  });
});

describe("error_in_200", () => {
  it("turns a 200 with an error field or ok:false into a 400 with the error code alone", () => {
    const github = errorIn200(answer(200, JSON.stringify({ error: "bad_verification_code", error_description: "The code passed is incorrect", error_uri: "https://docs" })));
    assert.equal(github.status, 400);
    assert.deepEqual(github.body, { error: "bad_verification_code" });
    const slack = errorIn200(answer(200, JSON.stringify({ ok: false, error: "invalid_code" })));
    assert.deepEqual([slack.status, slack.body], [400, { error: "invalid_code" }]);
    const bare = errorIn200(answer(200, JSON.stringify({ ok: false })));
    assert.deepEqual([bare.status, bare.body], [400, { error: "provider_error" }]);
  });

  it("reads a dead refresh token's provider code as invalid_grant", () => {
    for (const code of ["bad_refresh_token", "invalid_refresh_token"]) {
      assert.deepEqual(errorIn200(answer(200, JSON.stringify({ error: code }))).body, { error: "invalid_grant" });
    }
  });

  it("leaves successes and real error statuses alone", () => {
    const ok = answer(200, JSON.stringify({ ok: true, access_token: "xoxb-1" }));
    assert.equal(errorIn200(ok), ok);
    const failed = answer(400, JSON.stringify({ error: "invalid_grant" }));
    assert.equal(errorIn200(failed), failed);
    const unread = answer(200, "<html>");
    assert.equal(errorIn200(unread), unread);
  });

  it("makes the refresh engine ask the user for a dead grant answered with 200, and retry other errors", async () => {
    const dead = await processTokenResponse(Response.json({ error: "bad_refresh_token" }), now, { quirks: ["error_in_200"] });
    assert.deepEqual(dead, { ok: false, kind: "invalid_grant", status: 400, error: "invalid_grant" });
    assert.equal(classifyTokenFailure(dead as { status: number; error: string }).kind, "needs_user");
    const other = await processTokenResponse(Response.json({ ok: false, error: "ratelimited" }), now, { quirks: ["error_in_200"] });
    assert.deepEqual(other, { ok: false, kind: "rejected", status: 400, error: "ratelimited" });
    assert.equal(classifyTokenFailure(other as { status: number; error: string }).kind, "retry");
    const without = await processTokenResponse(Response.json({ error: "bad_refresh_token" }), now);
    assert.deepEqual(without, { ok: false, kind: "rejected", status: 200, error: "invalid_token_response" }, "without the quirk it is an unreadable success");
  });
});

describe("keep_token_fields", () => {
  const salesforce = {
    access_token: "00D", instance_url: "https://acme.my.salesforce.example", id: "https://login.example/id/00D/005", issued_at: "1700000000000",
    authed_user: { id: "U1", access_token: "xoxp-1", refresh_token: "xoxe-secret", scope: "chat:write" }, count: 3, flag: true, nothing: null,
  };

  it("keeps named fields and dotted paths as text, objects as JSON without refresh tokens, and skips what is absent", () => {
    assert.deepEqual(keepTokenFields(salesforce, ["instance_url", "authed_user.id", "authed_user", "count", "flag", "nothing", "missing", "authed_user.missing.deeper"]), {
      instance_url: "https://acme.my.salesforce.example",
      "authed_user.id": "U1",
      authed_user: JSON.stringify({ id: "U1", access_token: "xoxp-1", scope: "chat:write" }),
      count: "3",
      flag: "true",
    });
  });

  it("never throws, and drops values that are too long", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.deepEqual(keepTokenFields({ cyclic, long: "x".repeat(5000) }, ["cyclic", "long", "__proto__", "constructor"]), {});
  });

  it("parseKeepTokenFields refuses Nexus's own keys, refresh tokens at any depth, bad names and duplicates", () => {
    assert.deepEqual(parseKeepTokenFields(["instance_url", "authed_user.id"]), ["instance_url", "authed_user.id"]);
    for (const bad of [["access_token"], ["scope"], ["refresh_token"], ["authed_user.refresh_token"], ["Refresh_Token_Expires"], ["a b"], [""], ["a..b"], ["x", "x"], [7]]) {
      assert.throws(() => parseKeepTokenFields(bad), NexusError, JSON.stringify(bad));
    }
    assert.throws(() => parseKeepTokenFields(Array.from({ length: 17 }, (_, i) => `f${i}`)), NexusError);
  });

  it("puts the kept fields in the token set the credential is sealed from", async () => {
    const result = await processTokenResponse(Response.json({ ...salesforce, token_type: "Bearer" }), now, { keepTokenFields: ["instance_url", "issued_at"] });
    assert.ok(result.ok);
    assert.deepEqual(result.tokens.kept, { instance_url: "https://acme.my.salesforce.example", issued_at: "1700000000000" });
    const plain = await processTokenResponse(Response.json({ access_token: "at" }), now, { keepTokenFields: ["instance_url"] });
    assert.ok(plain.ok && !("kept" in plain.tokens), "no kept fields, no entry");
  });
});

describe("adaptRequest", () => {
  it("changes nothing without request quirks", () => {
    const request = { headers: new Headers({ a: "1" }), body: new URLSearchParams({ b: "2" }) };
    assert.equal(adaptRequest(["error_in_200", "form_encoded_response"], request), request);
  });
});
