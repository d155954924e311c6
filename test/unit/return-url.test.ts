/**
 * The return URL policy (security.md S-27, C-30…C-37) and withQuery.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NexusError } from "../../src/shared/errors.ts";
import { checkReturnUrl, withQuery } from "../../src/broker/domain/return-url.ts";

const allowed = ["app.example.com", "*.example.org", "localhost"] as const;

function assertRejected(raw: string, message: RegExp): void {
  assert.throws(
    () => checkReturnUrl(raw, allowed),
    (error: unknown) => {
      assert.ok(error instanceof NexusError, String(error));
      assert.equal(error.reason, "return_url_rejected");
      assert.equal(error.field, "return_url");
      assert.match(error.message, message);
      return true;
    },
    `expected ${JSON.stringify(raw)} to be rejected`,
  );
}

describe("checkReturnUrl accepts", () => {
  it("an exact allowed host", () => {
    assert.equal(checkReturnUrl("https://app.example.com/cb", allowed).href, "https://app.example.com/cb");
  });

  it("an allowed host with a port, query and fragment", () => {
    const url = checkReturnUrl("https://app.example.com:8443/cb?x=1#f", allowed);
    assert.equal(url.port, "8443");
    assert.equal(url.search, "?x=1");
    assert.equal(url.hash, "#f");
  });

  it("strict subdomains of a wildcard entry, at any depth", () => {
    assert.equal(checkReturnUrl("https://a.example.org/", allowed).hostname, "a.example.org");
    assert.equal(checkReturnUrl("https://a.b.example.org/", allowed).hostname, "a.b.example.org");
  });

  it("http on localhost", () => {
    assert.equal(checkReturnUrl("http://localhost:3000/cb", allowed).host, "localhost:3000");
  });

  it("http on the other loopback hosts when they are allowed", () => {
    assert.equal(checkReturnUrl("http://127.0.0.1:8000/", ["127.0.0.1"]).hostname, "127.0.0.1");
    assert.equal(checkReturnUrl("http://[::1]:8000/", ["[::1]"]).hostname, "[::1]");
  });

  it("a host in any case", () => {
    assert.equal(checkReturnUrl("https://APP.EXAMPLE.COM/", allowed).hostname, "app.example.com");
  });

  it("an IDN host compared in punycode", () => {
    assert.equal(checkReturnUrl("https://bücher.example/", ["xn--bcher-kva.example"]).hostname, "xn--bcher-kva.example");
  });
});

describe("checkReturnUrl rejects", () => {
  it("a host not in the allow-list (C-30), naming only the host", () => {
    assertRejected("https://evil.example", /host evil\.example is not an allowed/);
    assertRejected("https://evil.example/secret-path?q=secret", /^return_url host evil\.example is not an allowed return domain$/);
  });

  it("a scheme-relative URL (C-31)", () => {
    assertRejected("//evil.example/x", /not a path or a scheme-relative URL/);
  });

  it("backslashes (C-32)", () => {
    assertRejected("/\\evil.example", /backslash/);
    assertRejected("https:/\\evil.example", /backslash/);
  });

  it("an encoded tab path (C-33)", () => {
    assertRejected("/%09/evil.example", /absolute URL/);
  });

  it("a raw tab, even where the parser would strip it (C-33)", () => {
    assertRejected("/\t/evil.example", /control characters or whitespace/);
    assertRejected("https://app.example.com\t.evil/", /control characters or whitespace/);
  });

  it("other control characters and whitespace", () => {
    assertRejected("https://app.example.com/\n", /control characters or whitespace/);
    assertRejected("https://app.example.com/\u007f", /control characters or whitespace/);
    assertRejected("https://app.example.com/a b", /control characters or whitespace/);
    assertRejected("https://app.example.com/\u00a0", /control characters or whitespace/);
  });

  it("userinfo that disguises the host (C-34)", () => {
    assertRejected("https://app.example.com@evil.example/", /user name or password/);
    assertRejected("https://user:pw@app.example.com/", /user name or password/);
  });

  it("an allowed host used as a prefix (C-35)", () => {
    assertRejected("https://app.example.com.evil.example/", /host app\.example\.com\.evil\.example is not an allowed/);
  });

  it("the wildcard's own apex and look-alike suffixes", () => {
    assertRejected("https://example.org/", /host example\.org is not an allowed/);
    assertRejected("https://badexample.org/", /host badexample\.org is not an allowed/);
  });

  it("hosts with empty labels under a wildcard: .example.org, ..example.org, a..example.org", () => {
    for (const host of [".example.org", "..example.org", "a..example.org", "a...example.org", "..a.example.org", "a.b..example.org"]) {
      assertRejected(`https://${host}/`, /is not an allowed return domain/);
    }
    // A trailing dot is an empty last label too.
    assertRejected("https://a.example.org./", /is not an allowed return domain/);
    assertRejected("https://app.example.com./", /is not an allowed return domain/);
  });

  it("the apex of a wildcard unless it is listed on its own", () => {
    assertRejected("https://example.org/", /not an allowed/);
    assert.equal(checkReturnUrl("https://example.org/", ["*.example.org", "example.org"]).hostname, "example.org");
    assert.equal(checkReturnUrl("https://a.b.example.org/", ["*.example.org", "example.org"]).hostname, "a.b.example.org");
  });

  it("javascript: and data: URLs (C-36)", () => {
    assertRejected("javascript:alert(1)", /must use https/);
    assertRejected("data:text/html,<script>", /must use https/);
  });

  it("http outside loopback (C-37) and other schemes", () => {
    assertRejected("http://app.example.com/", /must use https/);
    assertRejected("ftp://app.example.com/", /must use https/);
  });

  it("a relative path", () => {
    assertRejected("relative/path", /must be an absolute URL/);
  });

  it("an over-long URL", () => {
    const raw = `https://app.example.com/${"a".repeat(3000 - 24)}`;
    assert.equal(raw.length, 3000);
    assertRejected(raw, /longer than 2048/);
  });

  it("the empty string", () => {
    assertRejected("", /empty/);
  });

  it("everything when nothing is allowed", () => {
    assert.throws(() => checkReturnUrl("https://app.example.com/", []), NexusError);
  });
});

describe("withQuery", () => {
  it("keeps existing parameters and the fragment and replaces same-named ones", () => {
    const result = new URL(withQuery("https://app.example.com/cb?x=1&status=old#frag", { status: "success", connection_id: "c-1" }));
    assert.equal(result.searchParams.get("x"), "1");
    assert.deepEqual(result.searchParams.getAll("status"), ["success"]);
    assert.equal(result.searchParams.get("connection_id"), "c-1");
    assert.equal(result.hash, "#frag");
    assert.equal(result.pathname, "/cb");
  });

  it("encodes values rather than concatenating them", () => {
    const result = withQuery("https://app.example.com/cb", { error: "a&b=c#d" });
    assert.equal(new URL(result).searchParams.get("error"), "a&b=c#d");
    assert.equal([...new URL(result).searchParams.keys()].length, 1);
  });
});
