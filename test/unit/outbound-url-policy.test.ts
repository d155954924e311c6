/**
 * The outbound-URL policy (security.md "Outbound requests", S-28, C-58): every
 * SSRF spelling, read through `new URL()` exactly as the Broker reads it, with
 * and without the development flag; relative references resolved against
 * their base; and the call-time wrapper every provider request goes through.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AddressClass, classifyIpAddress } from "../../src/broker/domain/ip-address.ts";
import { classifyHost, outboundUrlRefusal, resolveOnOrigin } from "../../src/broker/domain/outbound-url-policy.ts";
import { createOutboundFetch } from "../../src/broker/oauth/outbound-fetch.ts";
import { NexusError } from "../../src/shared/errors.ts";
import { ssrfForms } from "../support/ssrf-forms.ts";

describe("classifyHost() through new URL()", () => {
  for (const form of ssrfForms) {
    it(`${form.url} is ${form.kind}`, () => {
      const host = new URL(form.url).hostname;
      assert.equal(classifyHost(host), form.kind, `hostname ${host}`);
    });
  }

  it("public addresses and names stay public, including public IPv4 in IPv6 forms", () => {
    for (const url of [
      "https://93.184.216.34/", "https://172.32.0.1/", "https://100.128.0.1/", "https://169.255.0.1/", "https://11.0.0.1/",
      "https://[2606:4700::1111]/", "https://[::ffff:8.8.8.8]/", "https://[64:ff9b::808:808]/", "https://[2002:808:808::1]/",
      "https://idp.example/", "https://localhost.example.com/", "https://internal.example.com/", "https://169.254.169.254.example/",
    ]) {
      assert.equal(classifyHost(new URL(url).hostname), "public", url);
    }
  });
});

describe("classifyIpAddress() on DNS answers", () => {
  const answers: Array<[string, AddressClass | undefined]> = [
    ["127.0.0.1", "loopback"], ["::1", "loopback"], ["::ffff:127.0.0.1", "embedded_loopback"], ["10.0.0.1", "private"],
    ["::ffff:10.0.0.1", "private"], ["fe80::1", "link_local"], ["169.254.169.254", "metadata"], ["fd00:ec2::254", "metadata"],
    ["93.184.216.34", "public"], ["2606:4700::1111", "public"], ["2606:4700:0:0:0:0:1.2.3.4", "public"], ["1:2:3:4:5:6:1.2.3.4", "reserved"],
    ["example.com", undefined], ["1.2.3", undefined], ["256.1.1.1", undefined], ["1::2::3", undefined], ["::ffff:1.2.3.256", undefined],
  ];
  for (const [address, kind] of answers) {
    it(`${address} is ${kind ?? "not an IP address"}`, () => assert.equal(classifyIpAddress(address), kind));
  }
});

describe("outboundUrlRefusal()", () => {
  for (const form of ssrfForms) {
    it(`refuses ${form.url} (${form.kind}) with a reason${form.kind === "loopback" ? ", and allows it only with the development flag" : ", flag or not"}`, () => {
      const refused = outboundUrlRefusal(form.url, { allowLoopback: false });
      assert.ok(refused !== undefined, "accepted without the flag");
      assert.match(refused, form.reason);
      const withFlag = outboundUrlRefusal(form.url, { allowLoopback: true });
      if (form.kind === "loopback") assert.equal(withFlag, undefined, "refused with the flag");
      else assert.match(withFlag ?? "accepted with the flag", form.reason);
    });
  }

  it("refuses schemes other than http(s), plain http off loopback, userinfo, fragments, backslashes and controls", () => {
    const cases: Array<[string, RegExp]> = [
      ["file:///etc/passwd", /scheme file:/], ["gopher://idp.example/", /scheme gopher:/], ["javascript:alert(1)", /scheme javascript:/],
      ["http://idp.example/token", /must use https/], ["http://93.184.216.34/", /must use https/],
      ["https://user:pass@idp.example/", /user credentials/], ["https://@idp.example/", /user credentials/],
      ["https://idp.example@127.0.0.1/", /user credentials/], ["https://idp.example/#frag", /fragment/],
      ["https:\\\\idp.example\\x", /backslashes/], ["https://idp.example\t.evil/", /control characters/],
      ["https://idp.example/a b", /spaces/], ["/relative", /not an absolute URL/], ["", /not an absolute URL/],
    ];
    for (const [url, reason] of cases) assert.match(outboundUrlRefusal(url, { allowLoopback: true }) ?? "accepted", reason, JSON.stringify(url));
  });

  it("accepts public https, and http only to loopback with the flag", () => {
    assert.equal(outboundUrlRefusal("https://idp.example/token?x=1", { allowLoopback: false }), undefined);
    assert.equal(outboundUrlRefusal("http://127.0.0.1:8080/token", { allowLoopback: true }), undefined);
    assert.equal(outboundUrlRefusal("http://localhost./x", { allowLoopback: true }), undefined);
    assert.match(outboundUrlRefusal("http://127.0.0.1:8080/token", { allowLoopback: false }) ?? "", /loopback/);
  });
});

describe("resolveOnOrigin()", () => {
  const base = "https://api.example.com/v1";
  const policy = { allowLoopback: true };
  const resolve = (ref: string) => resolveOnOrigin(ref, base, { field: "user_info_endpoint", policy }).href;

  it("resolves paths under the base: relative under its path, absolute-path at its root", () => {
    assert.equal(resolve("me"), "https://api.example.com/v1/me");
    assert.equal(resolve("/me"), "https://api.example.com/me");
    assert.equal(resolve("/me?fields=id"), "https://api.example.com/me?fields=id");
    assert.equal(resolve("https://api.example.com/v2/me"), "https://api.example.com/v2/me");
    // Percent-encoded slashes and dot segments stay paths on the same host.
    assert.equal(resolve("%2f%2fevil.example"), "https://api.example.com/v1/%2f%2fevil.example");
    assert.equal(resolve("/..//evil.example"), "https://api.example.com//evil.example");
  });

  it("refuses every reference that leaves the base's origin, naming the field", () => {
    for (const ref of [
      "//evil.example/x", "/\\evil.example/x", "\\\\evil.example", "https:\\\\evil.example", "/\t/evil.example", " //evil.example",
      "//127.0.0.1:9/x", "//169.254.169.254/latest/meta-data/", "https://evil.example/me", "http://api.example.com/me",
      "https://api.example.com:8443/me", "//api.example.com@evil.example/", "https://api.example.com.evil.example/",
    ]) {
      assert.throws(() => resolve(ref), (error: unknown) => {
        assert.ok(error instanceof NexusError && error.reason === "invalid_argument", String(error));
        assert.equal(error.field, "user_info_endpoint");
        return true;
      }, JSON.stringify(ref));
    }
  });

  it("refuses a base the policy refuses, naming the base's field", () => {
    assert.throws(() => resolveOnOrigin("/me", "https://10.0.0.1/", { field: "user_info_endpoint", policy }), (error: unknown) => {
      assert.ok(error instanceof NexusError && error.field === "api_base_url", String(error));
      return true;
    });
  });
});

describe("createOutboundFetch()", () => {
  it("refuses a URL the policy refuses before any request, and sends every other with redirect: manual", async () => {
    const seen: Array<[string, RequestRedirect | undefined]> = [];
    const fetch = createOutboundFetch(async (input, init) => {
      seen.push([String(input), init?.redirect]);
      return new Response("{}");
    }, { allowLoopback: false });
    for (const url of ["https://169.254.169.254/", "https://[::ffff:7f00:1]/", "http://idp.example/", "https://10.0.0.1/?api_key=SECRET"]) {
      await assert.rejects(fetch(url), (error: unknown) => {
        assert.ok(error instanceof NexusError && error.reason === "invalid_argument", String(error));
        assert.match(error.message, /refused before sending/);
        assert.doesNotMatch(error.message, /SECRET/, "the query, which may hold a credential, is not echoed");
        return true;
      });
    }
    assert.deepEqual(seen, []);
    await fetch("https://idp.example/token", { redirect: "follow" });
    assert.deepEqual(seen, [["https://idp.example/token", "manual"]]);
  });

  it("refuses a response that was redirected by a fetch that ignored redirect: manual", async () => {
    const redirected = new Response("{}");
    Object.defineProperty(redirected, "redirected", { value: true });
    const fetch = createOutboundFetch(async () => redirected, { allowLoopback: false });
    await assert.rejects(fetch("https://idp.example/token"), /redirected/);
  });
});
