/**
 * Provider quirks as configuration, through the Broker's REST surface
 * against the scriptable fake provider: `params.quirks` and
 * `params.keep_token_fields` are checked at registration, change how the
 * code exchange and refreshes read the provider's answers, and put the kept
 * fields in the credential agents receive.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { FakeProvider } from "../support/fake-provider.ts";
import { type SecurityHarness, startFakeProvider, startSecurityHarness } from "../support/security-harness.ts";

describe("provider quirks through the Broker", () => {
  let h: SecurityHarness;
  let fake: FakeProvider;
  // No openid scope: a form-encoded answer carries no ID token.
  const quirky = { scopes: ["email"], params: { quirks: ["form_encoded_response", "error_in_200"], keep_token_fields: ["instance_url"] } };

  before(async () => {
    h = await startSecurityHarness();
    fake = await startFakeProvider();
    await h.registerFake("quirky", fake, quirky);
    await h.registerFake("plain", fake, { scopes: ["email"] });
  });
  after(async () => {
    await h.close();
    await fake.close();
  });

  const credentials = async (id: string) => {
    const r = await h.rest("GET", `/connections/${id}/token`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.credentials as Record<string, string>;
  };
  const formAnswer = (fields: Record<string, string>) =>
    ({ kind: "status" as const, status: 200, contentType: "application/x-www-form-urlencoded", body: new URLSearchParams(fields).toString() });

  it("refuses an unknown quirk and a kept field that would expose a refresh token, naming the field", async () => {
    for (const [params, field] of [
      [{ quirks: ["accept_json"] }, "profile.params.quirks"],
      [{ keep_token_fields: ["authed_user.refresh_token"] }, "profile.params.keep_token_fields"],
      [{ keep_token_fields: ["access_token"] }, "profile.params.keep_token_fields"],
    ] as const) {
      const r = await h.rest("POST", "/providers", {
        profile: { name: "refused", auth_type: "oauth2", client_id: "c", client_secret: "s", issuer: fake.issuer, enable_discovery: true, params },
      });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(JSON.stringify(r.body), new RegExp(field.replace(/\./g, "\\.")), JSON.stringify(r.body));
    }
    const stored = await h.rest("GET", "/providers/by-name/quirky");
    assert.deepEqual((stored.body.params as Record<string, unknown>).quirks, ["form_encoded_response", "error_in_200"]);
    assert.deepEqual((stored.body.params as Record<string, unknown>).keep_token_fields, ["instance_url"]);
  });

  it("reads a form-encoded answer only for the provider that names the quirk, and exposes the kept field", async () => {
    const answer = formAnswer({ access_token: "at-form-1", token_type: "bearer", expires_in: "3600", refresh_token: "rt-form-1", instance_url: "https://acme.example" });
    const plain = await h.start("plain");
    fake.script.push(answer);
    const refused = await h.callback(h.authorize(fake, plain.authUrl));
    assert.equal(refused.location?.searchParams.get("error"), "code_exchange_failed", "without the quirk a form answer is unreadable (C-21)");

    const s = await h.start("quirky");
    fake.script.push(answer);
    const r = await h.callback(h.authorize(fake, s.authUrl));
    assert.equal(r.location?.searchParams.get("status"), "success", r.location?.href);
    assert.deepEqual(await credentials(s.id), { access_token: "at-form-1", token_type: "Bearer", instance_url: "https://acme.example" });
  });

  it("keeps a kept field a refresh answer leaves out, and takes a new one when it comes", async () => {
    const id = await h.connect(fake, "quirky");
    // The consent's answer had no instance_url; the first refresh brings one, the second none, the third another.
    fake.script.push({ kind: "ok", extra: { instance_url: "https://one.example" } }, { kind: "ok" }, { kind: "ok", extra: { instance_url: "https://two.example" } });
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await h.rest("POST", `/connections/${id}/refresh`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      seen.push((r.body.credentials as Record<string, string>).instance_url ?? "(none)");
    }
    assert.deepEqual(seen, ["https://one.example", "https://one.example", "https://two.example"]);
    assert.equal((await credentials(id)).instance_url, "https://two.example");
  });

  it("treats a dead refresh token answered with HTTP 200 as invalid_grant: attention_required, one request", async () => {
    const id = await h.connect(fake, "quirky");
    fake.script.push({ kind: "status", status: 200, body: JSON.stringify({ error: "bad_refresh_token", error_description: "The refresh token is invalid" }) });
    const before = fake.seen.length;
    const r = await h.rest("POST", `/connections/${id}/refresh`);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message as string, /^attention_required: /);
    assert.equal(fake.seen.length - before, 1);
    assert.deepEqual(await h.connection(id), { status: "attention_required", reason: "invalid_grant" });
  });
});
