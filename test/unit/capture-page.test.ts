/**
 * The capture and message pages: accessible forms, escaping everywhere, no
 * script and no third-party resources (security.md S-16), and their headers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JsonObject } from "../../src/broker/domain/provider.ts";
import { escapeHtml, pageSecurityHeaders, renderCapturePage, renderMessagePage } from "../../src/broker/handlers/capture-page.ts";

const hostile = `<script>alert("x")</script>`;

const schema: JsonObject = {
  type: "object",
  required: ["api_key", "region"],
  properties: {
    api_key: { type: "string", title: "API key", format: "password", minLength: 8, maxLength: 64, pattern: "^sk_", description: "Find it under Settings" },
    account: { type: "string", title: hostile },
    region: { type: "string", enum: ["eu", "us"], default: "us" },
  },
};

const state = `st"ate<&>`;
const html = renderCapturePage({ providerName: hostile, providerDescription: `Acme & ${hostile}`, schema, state, action: "/auth/capture" });

/** The opening tag of the element with this id. */
function tagWithId(page: string, id: string): string {
  const match = new RegExp(`<(input|select)[^>]*\\bid="${id}"[^>]*>`).exec(page);
  assert.ok(match, `no control with id ${id}`);
  return match[0];
}

function assertNoScriptOrRemoteResource(page: string): void {
  assert.doesNotMatch(page, /<script/i);
  assert.doesNotMatch(page, /https?:\/\//i);
  assert.doesNotMatch(page, /\bsrc=|<link|<iframe|<img|url\(|@import/i);
  assert.doesNotMatch(page, /\bstyle=|\bon[a-z]+=/i, "no inline style or event attributes");
}

describe("renderCapturePage", () => {
  it("is a complete HTML5 document for phones", () => {
    assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
    assert.match(html, /<meta charset="utf-8">/);
    assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    assert.match(html, /<\/html>\n$/);
  });

  it("binds a label to a control named credentials.<field> for every field, in schema order", () => {
    const names = [...html.matchAll(/name="credentials\.([a-z_]+)"/g)].map((m) => m[1]);
    assert.deepEqual(names, ["api_key", "account", "region"]);
    for (const field of names) {
      const id = `field-${field}`;
      assert.match(html, new RegExp(`<label for="${id}">`), `label for ${field}`);
      assert.match(tagWithId(html, id), new RegExp(`name="credentials\\.${field}"`));
    }
    assert.match(html, /<label for="field-api_key">API key<\/label>/);
    assert.match(html, /<label for="field-region">region<\/label>/, "falls back to the field name");
  });

  it("marks required and secret fields", () => {
    const key = tagWithId(html, "field-api_key");
    assert.match(key, /type="password"/);
    assert.match(key, /autocomplete="off"/);
    assert.match(key, / required\b/);
    const account = tagWithId(html, "field-account");
    assert.match(account, /type="text"/);
    assert.doesNotMatch(account, /required/);
    assert.match(tagWithId(html, "field-region"), / required\b/);
  });

  it("carries length and pattern constraints, the pattern unanchored as in JSON Schema", () => {
    const key = tagWithId(html, "field-api_key");
    assert.match(key, /minlength="8"/);
    assert.match(key, /maxlength="64"/);
    assert.match(key, /pattern="\.\*\(\?:\^sk_\)\.\*"/);
    assert.doesNotMatch(tagWithId(html, "field-account"), /maxlength|minlength|pattern/);
  });

  it("renders an enum as a select with the default chosen", () => {
    assert.match(tagWithId(html, "field-region"), /^<select/);
    assert.match(html, /<option value="us" selected>us<\/option>/);
    assert.match(html, /<option value="eu">eu<\/option>/);
  });

  it("links the description as help text", () => {
    assert.match(tagWithId(html, "field-api_key"), /aria-describedby="field-api_key-help"/);
    assert.match(html, /<p class="help" id="field-api_key-help">Find it under Settings<\/p>/);
    assert.doesNotMatch(tagWithId(html, "field-account"), /aria-describedby/);
  });

  it("escapes a hostile provider name, description and title", () => {
    assert.equal(html.includes(hostile), false);
    assert.match(html, /<title>Connect &lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;<\/title>/);
    assert.match(html, /<h1>Connect &lt;script&gt;/);
    assert.match(html, /<p>Acme &amp; &lt;script&gt;/);
    assert.match(html, /<label for="field-account">&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;<\/label>/);
  });

  it("posts to the action with the state hidden and escaped", () => {
    assert.match(html, /<form method="post" action="\/auth\/capture">/);
    assert.match(html, /<input type="hidden" name="state" value="st&quot;ate&lt;&amp;&gt;">/);
    assert.match(html, /<button type="submit">Connect<\/button>/);
  });

  it("shows an error in an alert, escaped, and none without one", () => {
    const withError = renderCapturePage({ providerName: "acme", schema, state: "s", action: "/auth/capture", error: `Bad key ${hostile}` });
    assert.match(withError, /<div class="alert" role="alert">Bad key &lt;script&gt;/);
    assert.doesNotMatch(html, /role="alert"/);
  });

  it("has no script and no third-party resources", () => {
    assertNoScriptOrRemoteResource(html);
    assert.match(html, /<style>/, "CSS lives in a style element");
  });
});

describe("renderMessagePage", () => {
  const expired = renderMessagePage({ title: "This link has expired", message: `Start again ${hostile}`, reason: "state_expired" });

  it("shows the title, message and reason code, escaped", () => {
    assert.match(expired, /<title>This link has expired<\/title>/);
    assert.match(expired, /<h1>This link has expired<\/h1>/);
    assert.match(expired, /<p>Start again &lt;script&gt;/);
    assert.match(expired, /<code>state_expired<\/code>/);
    assertNoScriptOrRemoteResource(expired);
  });

  it("renders a link, escaped, for a redirect fallback", () => {
    const page = renderMessagePage({ title: "Redirecting", message: "Continue", link: { href: "https://app.example.com/cb?a=1&b=2", text: "Continue to <app>" } });
    assert.match(page, /<a href="https:\/\/app\.example\.com\/cb\?a=1&amp;b=2">Continue to &lt;app&gt;<\/a>/);
    assert.match(renderMessagePage({ title: "t", message: "m", link: { href: "/auth/x", text: "x" } }), /<a href="\/auth\/x">/);
  });

  it("drops links that could run script or leave by a scheme-relative host", () => {
    for (const href of ["javascript:alert(1)", "data:text/html,x", "//evil.example/", "/\\evil.example", "not a url"]) {
      assert.doesNotMatch(renderMessagePage({ title: "t", message: "m", link: { href, text: "go" } }), /<a /, href);
    }
  });
});

describe("escapeHtml", () => {
  it("escapes the five significant characters", () => {
    assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  });
});

describe("pageSecurityHeaders", () => {
  it("locks pages down", () => {
    assert.deepEqual(pageSecurityHeaders, {
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
    });
  });
});
