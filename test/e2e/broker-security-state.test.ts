/**
 * Bad input at the callback (security.md §5, C-03…C-15, C-38; S-16), driven
 * through the Broker's real HTTP surface with a scriptable fake provider.
 * Every refusal is checked for what must stay intact: no token request, the
 * connection's status, the handshake row, and (C-50) no secret anywhere.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decodeJwt, SignJWT } from "jose";
import type { FakeProvider } from "../support/fake-provider.ts";
import { type CallbackReply, flipMiddle, type SecurityHarness, startFakeProvider, startSecurityHarness, type Started } from "../support/security-harness.ts";

describe("Broker security: state and callback (C-03…C-15, C-38, S-16)", () => {
  let h: SecurityHarness;
  let fake: FakeProvider;
  let issFake: FakeProvider;
  const provider = "sec-fake";
  const issProvider = "sec-fake-iss";

  before(async () => {
    h = await startSecurityHarness();
    fake = await startFakeProvider();
    issFake = await startFakeProvider({ issRequired: true });
    await h.registerFake(provider, fake);
    await h.registerFake(issProvider, issFake);
  });
  after(async () => {
    await h.close();
    await fake.close();
    await issFake.close();
  });

  const query = (params: [string, string][]) => `?${new URLSearchParams(params).toString()}`;
  const handshakesOf = async (id: string) =>
    Number((await h.stack.db.sql`select count(*)::int as n from handshakes where connection_id = ${id}`)[0]!.n);

  /** A refused state: a 400 page naming `reason`, no token request, and the consent still usable. */
  async function expectRefused(s: Started, state: string, reason: string, code = "code-refused"): Promise<void> {
    const before = fake.seen.length;
    const r = await h.callback(query([["code", code], ["state", state]]));
    assert.equal(r.status, 400, r.body);
    assert.equal(r.location, undefined, "no redirect for a state that cannot be trusted");
    assert.match(r.body, new RegExp(`<code>${reason}</code>`));
    assert.equal(fake.seen.length, before, "no call to the provider");
    assert.equal((await h.connection(s.id)).status, "pending");
    assert.equal(await handshakesOf(s.id), 1, "the handshake was not consumed");
  }

  /** The genuine callback still completes: nothing above used the handshake up. */
  async function expectStillCompletes(s: Started): Promise<void> {
    const r = await h.callback(h.authorize(fake, s.authUrl));
    assert.equal(r.status, 303, r.body);
    assert.equal(r.location?.searchParams.get("status"), "success");
    assert.equal((await h.connection(s.id)).status, "active");
  }

  it("C-03 a callback with no state is a 400 state_missing page, before any provider call", async () => {
    const s = await h.start(provider);
    await expectRefused(s, "", "state_missing");
    const before = fake.seen.length;
    const r = await h.callback(query([["code", "code-no-state"]]));
    assert.equal(r.status, 400);
    assert.match(r.body, /<code>state_missing<\/code>/);
    assert.equal(fake.seen.length, before);
    await expectStillCompletes(s);
  });

  it("C-04 a state that is not base64url, or is 10 KB long (even correctly signed), is refused as state_invalid", async () => {
    const s = await h.start(provider);
    await expectRefused(s, "%%%not*base64url%%%.x.y", "state_invalid");
    // Padding and the standard alphabet decode to the same bytes in lenient decoders: still not our shape.
    await expectRefused(s, `${s.state}=`, "state_invalid");
    const standard = s.state.replaceAll("-", "+").replaceAll("_", "/");
    if (standard !== s.state) await expectRefused(s, standard, "state_invalid");
    await expectRefused(s, "A".repeat(10 * 1024), "state_invalid");
    // A 10 KB state with a valid MAC over the real handshake: refused on its size alone, so never looked up.
    const claims = decodeJwt(s.state);
    const key = new Uint8Array(Buffer.from(h.stack.brokerEnv.STATE_KEY!, "base64"));
    const big = await new SignJWT({ ...claims, pad: "x".repeat(10 * 1024) }).setProtectedHeader({ alg: "HS256" }).sign(key);
    assert.ok(big.length > 10 * 1024);
    h.remember(big);
    await expectRefused(s, big, "state_invalid");
    await expectStillCompletes(s);
  });

  it("C-05 a state with a bad MAC (another key, or one flipped character) is refused before any provider call", async () => {
    const s = await h.start(provider);
    const claims = decodeJwt(s.state);
    const otherKey = crypto.getRandomValues(new Uint8Array(32));
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(otherKey);
    const [head, body, mac] = s.state.split(".") as [string, string, string];
    const flipped = `${head}.${body}.${flipMiddle(mac)}`;
    const edited = `${head}.${flipMiddle(body)}.${mac}`;
    h.remember(forged, flipped, edited);
    await expectRefused(s, forged, "state_invalid");
    await expectRefused(s, flipped, "state_invalid");
    await expectRefused(s, edited, "state_invalid");
    await expectStillCompletes(s);
  });

  it("C-06 an expired handshake (Broker clock +11 min, or expires_at past on the DB clock) fails the connection with state_expired", async () => {
    // The state's own expiry, on the Broker's clock.
    const a = await h.start(provider, "https://app.example.com/a");
    const redirectA = h.authorize(fake, a.authUrl);
    let before = fake.seen.length;
    h.setClockOffset(11 * 60 * 1000);
    let r: CallbackReply;
    try {
      r = await h.callback(redirectA);
    } finally {
      h.setClockOffset(0);
    }
    assert.equal(r.status, 303, r.body);
    assert.equal(r.location?.origin + r.location!.pathname, "https://app.example.com/a");
    assert.equal(r.location?.searchParams.get("status"), "error");
    assert.equal(r.location?.searchParams.get("error"), "state_expired");
    assert.equal(r.location?.searchParams.get("connection_id"), a.id);
    assert.equal(fake.seen.length, before, "no code exchange");
    assert.deepEqual(await h.connection(a.id), { status: "failed", reason: "state_expired" });
    assert.equal(await handshakesOf(a.id), 0, "the handshake row is deleted");

    // The handshake row's expiry, on the database clock (the state itself is still fresh).
    const b = await h.start(provider, "https://app.example.com/b");
    await h.stack.db.sql`update handshakes set expires_at = now() - interval '1 second' where connection_id = ${b.id}`;
    before = fake.seen.length;
    r = await h.callback(h.authorize(fake, b.authUrl));
    assert.equal(r.status, 303, r.body);
    assert.equal(r.location?.searchParams.get("error"), "state_expired");
    assert.equal(r.location?.searchParams.get("connection_id"), b.id);
    assert.equal(fake.seen.length, before, "no code exchange");
    assert.deepEqual(await h.connection(b.id), { status: "failed", reason: "state_expired" });
    assert.equal(await handshakesOf(b.id), 0);
    assert.equal(await h.credentialRow(b.id), undefined);
  });

  it("C-07 the same callback replayed after success is state_replayed, with no second exchange and the credential unchanged", async () => {
    const s = await h.start(provider);
    const redirect = h.authorize(fake, s.authUrl);
    const first = await h.callback(redirect);
    assert.equal(first.status, 303);
    const stored = await h.credentialRow(s.id);
    const before = fake.seen.length;
    const replay = await h.callback(redirect);
    assert.equal(replay.status, 400);
    assert.match(replay.body, /<code>state_replayed<\/code>/);
    assert.equal(fake.seen.length, before, "no second token exchange");
    assert.equal((await h.connection(s.id)).status, "active");
    const after = await h.credentialRow(s.id);
    assert.equal(after?.secretCt, stored?.secretCt);
    assert.equal(after?.version, stored?.version);
  });

  it("C-08 two identical callbacks at once exchange the code once: one 303, one state_replayed, one connection", async () => {
    const s = await h.start(provider);
    const redirect = h.authorize(fake, s.authUrl);
    const before = fake.seen.length;
    const [a, b] = await Promise.all([h.callback(redirect), h.callback(redirect)]);
    assert.equal(fake.seen.length - before, 1, "exactly one token request");
    assert.deepEqual([a.status, b.status].sort(), [303, 400]);
    assert.match([a, b].find((r) => r.status === 400)!.body, /<code>state_replayed<\/code>/);
    assert.equal((await h.stack.db.sql`select id from connections where id = ${s.id}`).length, 1);
    assert.equal((await h.stack.db.sql`select 1 from credentials where connection_id = ${s.id}`).length, 1);
    assert.equal((await h.connection(s.id)).status, "active");
  });

  it.skip("C-09 does not apply: one callback route (BASE_URL/auth/callback) serves every provider, the provider comes from the handshake row", () => {});

  it.skip("C-10 does not apply: flows start from an authenticated API call, not a browser, so there is no binding cookie", () => {});

  it("C-11 a state given twice is invalid_argument (400), and the handshake stays unused", async () => {
    const s = await h.start(provider);
    const before = fake.seen.length;
    const redirect = h.authorize(fake, s.authUrl);
    const res = await fetch(`${h.stack.broker.url}/auth/callback${redirect.search}&state=${encodeURIComponent(s.state)}`, { redirect: "manual" });
    const body = (await res.json()) as { code: string; message: string };
    h.replies.push(JSON.stringify(body));
    assert.equal(res.status, 400);
    assert.equal(body.code, "invalid_argument");
    assert.match(body.message, /state/);
    assert.equal(fake.seen.length, before);
    assert.equal((await h.connection(s.id)).status, "pending");
    assert.equal(await handshakesOf(s.id), 1);
    await expectStillCompletes(s);
  });

  it("C-11 code and error both present are refused (a 400 page), before the state is used and with no exchange", async () => {
    const s = await h.start(provider);
    const before = fake.seen.length;
    const res = await fetch(`${h.stack.broker.url}/auth/callback${h.authorize(fake, s.authUrl, { error: "access_denied" }).search}`, { redirect: "manual" });
    const body = await res.text();
    h.replies.push(body);
    assert.equal(res.status, 400, body);
    assert.match(body, /<code>invalid_argument<\/code>/);
    assert.equal(res.headers.get("location"), null);
    assert.equal(fake.seen.length, before, "no code exchange");
    assert.equal((await h.connection(s.id)).status, "pending");
    await expectStillCompletes(s);
  });

  it("C-12 an iss different from the provider's fails the connection with iss_mismatch and no code exchange", async () => {
    const s = await h.start(provider);
    const before = fake.seen.length;
    const r = await h.callback(h.authorize(fake, s.authUrl, { iss: "https://evil.example" }));
    assert.equal(r.status, 303);
    assert.equal(r.location?.searchParams.get("status"), "error");
    assert.equal(r.location?.searchParams.get("error"), "iss_mismatch");
    assert.equal(fake.seen.length, before, "no code exchange");
    assert.deepEqual(await h.connection(s.id), { status: "failed", reason: "iss_mismatch" });
    assert.equal(await h.credentialRow(s.id), undefined);
  });

  it("C-13 a missing iss when the provider advertises authorization_response_iss_parameter_supported is iss_missing", async () => {
    const s = await h.start(issProvider);
    const before = issFake.seen.length;
    const r = await h.callback(h.authorize(issFake, s.authUrl));
    assert.equal(r.status, 303);
    assert.equal(r.location?.searchParams.get("error"), "iss_missing");
    assert.equal(issFake.seen.length, before, "no code exchange");
    assert.deepEqual(await h.connection(s.id), { status: "failed", reason: "iss_missing" });
    // The same provider with its iss completes: the refusal is about the missing parameter, not the provider.
    const ok = await h.start(issProvider);
    const done = await h.callback(h.authorize(issFake, ok.authUrl, { iss: issFake.issuer }));
    assert.equal(done.location?.searchParams.get("status"), "success", done.location?.href);
  });

  it("C-14 iss with a trailing slash is iss_mismatch (no normalisation)", async () => {
    const s = await h.start(provider);
    const before = fake.seen.length;
    const r = await h.callback(h.authorize(fake, s.authUrl, { iss: `${fake.issuer}/` }));
    assert.equal(r.location?.searchParams.get("error"), "iss_mismatch");
    assert.equal(fake.seen.length, before);
    assert.deepEqual(await h.connection(s.id), { status: "failed", reason: "iss_mismatch" });
    // The exact issuer is accepted.
    const ok = await h.start(provider);
    const done = await h.callback(h.authorize(fake, ok.authUrl, { iss: fake.issuer }));
    assert.equal(done.location?.searchParams.get("status"), "success");
  });

  it("C-15 error=access_denied with a hostile error_description: redirect with error=access_denied, connection failed, description never reflected", async () => {
    const s = await h.start(provider, "https://app.example.com/cb?keep=1");
    const before = fake.seen.length;
    const description = `<script>alert("XSS-C15-marker")</script>`;
    const back = new URL(fake.authorize(s.authUrl));
    back.searchParams.delete("code");
    back.searchParams.set("error", "access_denied");
    back.searchParams.set("error_description", description);
    const r = await h.callback(back);
    assert.equal(r.status, 303);
    assert.equal(r.location?.origin + r.location!.pathname, "https://app.example.com/cb");
    assert.equal(r.location?.searchParams.get("keep"), "1");
    assert.equal(r.location?.searchParams.get("status"), "error");
    assert.equal(r.location?.searchParams.get("error"), "access_denied");
    assert.equal(r.location?.searchParams.get("connection_id"), s.id);
    for (const text of [r.location!.href, decodeURIComponent(r.location!.href), r.body, h.stack.logs.join("")]) {
      assert.ok(!text.includes("XSS-C15-marker"), "the description is reflected");
      assert.ok(!text.includes("<script"), "markup is reflected");
    }
    assert.equal(fake.seen.length, before);
    assert.deepEqual(await h.connection(s.id), { status: "failed", reason: "access_denied" });
    assert.equal(await handshakesOf(s.id), 0, "the state is consumed");
    // An error code outside the OAuth grammar is normalised, never passed on.
    const t = await h.start(provider);
    const odd = new URL(fake.authorize(t.authUrl));
    odd.searchParams.delete("code");
    odd.searchParams.set("error", "<b>x</b>");
    const r2 = await h.callback(odd);
    assert.equal(r2.location?.searchParams.get("error"), "provider_error");
    assert.ok(!r2.body.includes("<b>"));
  });

  it("S-16 the callback answers 303 with no-store and no-referrer, and its pages load no external resources", async () => {
    const s = await h.start(provider);
    const ok = await h.callback(h.authorize(fake, s.authUrl));
    const refused = await h.callback(query([["code", "x"], ["state", "nope.nope.nope"]]));
    for (const [r, status] of [[ok, 303], [refused, 400]] as const) {
      assert.equal(r.status, status);
      assert.equal(r.headers.get("cache-control"), "no-store");
      assert.equal(r.headers.get("referrer-policy"), "no-referrer");
      assert.match(r.headers.get("content-security-policy") ?? "", /default-src 'none'/);
      assert.match(r.headers.get("content-type") ?? "", /^text\/html/);
      assert.doesNotMatch(r.body, /<(script|img|link|iframe|object|embed|frame|video|audio|source)\b/i);
      assert.doesNotMatch(r.body, /\bsrc\s*=|url\(|@import/i);
    }
    assert.match(ok.headers.get("location") ?? "", /^https:\/\/app\.example\.com\/done\?status=success/);
  });

  it("C-38 a return_url on the callback query string is ignored: the one stored at start is used", async () => {
    const s = await h.start(provider, "https://app.example.com/stored");
    const r = await h.callback(h.authorize(fake, s.authUrl, { return_url: "https://evil.example/x", returnUrl: "https://evil.example/y" }));
    assert.equal(r.status, 303);
    assert.equal(r.location?.origin + r.location!.pathname, "https://app.example.com/stored");
    assert.equal(r.location?.searchParams.get("status"), "success");
    assert.ok(!r.body.includes("evil.example"));
    // Also on failure: an error goes back to the stored URL.
    const t = await h.start(provider, "https://app.example.com/stored-2");
    const back = h.authorize(fake, t.authUrl, { iss: "https://evil.example", return_url: "https://evil.example/z" });
    const r2 = await h.callback(back);
    assert.equal(r2.location?.origin + r2.location!.pathname, "https://app.example.com/stored-2");
  });

  it("C-50 canary (callback flows): no state, code, token or client secret in logs, rows, audit, metrics or answers", async () => {
    await h.canary([fake, issFake], 20);
  });
});
