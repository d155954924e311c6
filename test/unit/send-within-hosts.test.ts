import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Credential } from "../../src/client/credential.ts";
import { NexusClientError } from "../../src/client/nexus-client-error.ts";
import { sendWithinHosts } from "../../src/client/send-within-hosts.ts";

const credential: Credential = {
  strategy: { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key", allowed_hosts: "api.example.com,*.cdn.example.com" } },
  credentials: { api_key: "sk_live" },
};

/** A fake network: answers each URL from `routes` and records what was sent. */
function network(routes: Record<string, () => Response>) {
  const sent: { url: string; method: string; key: string | null; body: string; redirect: string }[] = [];
  const send = async (r: Request) => {
    sent.push({ url: r.url, method: r.method, key: r.headers.get("x-api-key"), body: await r.text(), redirect: r.redirect });
    const route = routes[r.url];
    if (route === undefined) throw new Error(`unexpected request to ${r.url}`);
    return route();
  };
  return { sent, send };
}

const redirect = (status: number, location: string) => () => new Response(null, { status, headers: { location } });
const ok = () => new Response("ok");
const now = () => 0;

describe("sendWithinHosts()", () => {
  it("follows a redirect to an allowed host itself, applying the credential again, and keeps a 307's method and body", async () => {
    const net = network({ "https://api.example.com/a": redirect(307, "https://eu.cdn.example.com/b"), "https://eu.cdn.example.com/b": ok });
    const body = new TextEncoder().encode("{\"n\":1}").buffer as ArrayBuffer;
    const res = await sendWithinHosts(new Request("https://api.example.com/a", { method: "POST", body }), credential, { send: net.send, body, now });
    assert.equal(await res.text(), "ok");
    assert.deepEqual(net.sent.map((s) => [s.url, s.method, s.key, s.body, s.redirect]), [
      ["https://api.example.com/a", "POST", "sk_live", "{\"n\":1}", "manual"],
      ["https://eu.cdn.example.com/b", "POST", "sk_live", "{\"n\":1}", "manual"],
    ]);
  });

  it("turns a POST's 302 and any 303 into a GET without body, as fetch does", async () => {
    const net = network({ "https://api.example.com/a": redirect(303, "/b"), "https://api.example.com/b": ok });
    const body = new TextEncoder().encode("x").buffer as ArrayBuffer;
    await sendWithinHosts(new Request("https://api.example.com/a", { method: "PUT", body, headers: { "content-type": "text/plain" } }), credential, { send: net.send, body, now });
    assert.deepEqual(net.sent.map((s) => [s.method, s.body]), [["PUT", "x"], ["GET", ""]]);
    const post = network({ "https://api.example.com/p": redirect(302, "https://api.example.com/q"), "https://api.example.com/q": ok });
    await sendWithinHosts(new Request("https://api.example.com/p", { method: "POST", body }), credential, { send: post.send, body, now });
    assert.deepEqual(post.sent.map((s) => [s.method, s.body, s.key]), [["POST", "x", "sk_live"], ["GET", "", "sk_live"]]);
  });

  it("refuses a redirect to a host outside allowed_hosts without following it", async () => {
    const net = network({ "https://api.example.com/a": redirect(302, "https://attacker.test/steal") });
    await assert.rejects(sendWithinHosts(new Request("https://api.example.com/a"), credential, { send: net.send, body: undefined, now }), (e: unknown) => {
      assert.ok(e instanceof NexusClientError);
      assert.equal(e.reason, "host_not_allowed");
      assert.equal(e.metadata.host, "attacker.test");
      return true;
    });
    assert.deepEqual(net.sent.map((s) => s.url), ["https://api.example.com/a"]);
  });

  it("refuses the first request to a host outside allowed_hosts before sending anything", async () => {
    const net = network({});
    await assert.rejects(sendWithinHosts(new Request("https://example.com/"), credential, { send: net.send, body: undefined, now }), /host_not_allowed/);
    assert.equal(net.sent.length, 0);
  });

  it("stops after 20 redirects", async () => {
    const net = network({ "https://api.example.com/loop": redirect(302, "/loop") });
    await assert.rejects(sendWithinHosts(new Request("https://api.example.com/loop"), credential, { send: net.send, body: undefined, now }), /more than 20 redirects/);
    assert.equal(net.sent.length, 21);
  });

  it("leaves redirects to fetch for credentials without a host limit, and for manual or error modes", async () => {
    const open: Credential = { ...credential, strategy: { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } } };
    const net = network({ "https://anywhere.test/": redirect(302, "https://elsewhere.test/") });
    const res = await sendWithinHosts(new Request("https://anywhere.test/"), open, { send: net.send, body: undefined, now });
    assert.equal(res.status, 302);
    assert.equal(net.sent[0]!.redirect, "follow");
    const manual = await sendWithinHosts(new Request("https://api.example.com/m", { redirect: "manual" }), credential, { send: network({ "https://api.example.com/m": redirect(302, "https://attacker.test/") }).send, body: undefined, now });
    assert.equal(manual.status, 302, "the caller asked to see redirects");
  });
});
