/**
 * The provider template data and the code that reads it: every shipped
 * template, made into a profile with its example values, passes the same
 * validation as a hand-written registration; the catalogue refuses broken
 * files (each rule with a file that breaks it); applyTemplate fills, merges
 * and refuses as documented.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { ProviderProfileSchema } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { draftFromProto } from "../../src/broker/handlers/provider-mapping.ts";
import { quirkNames } from "../../src/broker/oauth/quirks.ts";
import { createCredentialPatterns } from "../../src/broker/services/credential-patterns.ts";
import { validateDraft } from "../../src/broker/services/provider-validation.ts";
import { loadTemplateCatalogue, type TemplateFile } from "../../src/broker/templates/template-catalogue.ts";
import { providerTemplateSchema } from "../../src/broker/templates/template-schema.ts";
import { templateFiles } from "../../src/broker/templates/template-files.ts";
import { applyTemplate, type TemplateProfile } from "../../src/shared/apply-template.ts";

/** The profile applyTemplate made; fails the test on a refusal. */
function applied(profile: JsonObject, template: TemplateProfile): JsonObject {
  const result = applyTemplate(profile, template);
  if (!result.ok) assert.fail(`${result.field}: ${result.message}`);
  return result.profile;
}

const catalogue = loadTemplateCatalogue(templateFiles);
const patterns = createCredentialPatterns();

/** A file like the shipped google.json with `change` applied. */
function variant(change: (t: Record<string, unknown>) => void, file = "providers/templates/google.json"): TemplateFile {
  const data = structuredClone(templateFiles.find((f) => f.file === "providers/templates/google.json")!.data) as Record<string, unknown>;
  change(data);
  return { file, data };
}

function refusal(files: TemplateFile[]): string {
  try {
    loadTemplateCatalogue(files);
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail("the catalogue accepted it");
}

describe("shipped templates", () => {
  it("are at least 25, with the providers the issue names", () => {
    const names = catalogue.list().map((t) => t.name);
    assert.ok(names.length >= 25, String(names.length));
    for (const n of ["google", "microsoft", "github", "github-app", "gitlab", "bitbucket", "slack", "discord", "notion", "atlassian", "linear",
      "asana", "hubspot", "salesforce", "zoom", "dropbox", "box", "shopify", "stripe", "openai", "anthropic", "twilio", "sendgrid", "aws", "airtable", "spotify"]) {
      assert.ok(names.includes(n), n);
    }
  });

  for (const t of catalogue.list()) {
    it(`${t.name}: made into a profile from its example values (and a client for OAuth), passes provider validation`, () => {
      const values = Object.fromEntries(t.placeholders.map((p) => [p.name, p.example]));
      const oauth = t.profile.auth_type === "oauth2";
      const given: JsonObject = { name: t.name, template: t.name, ...(oauth ? { client_id: "id", client_secret: "secret" } : {}), template_values: values };
      const draft = draftFromProto(fromJson(ProviderProfileSchema, applied(given, t)));
      const valid = validateDraft(draft, { hasStoredSecret: false, allowHttpLoopback: false, patterns });
      assert.equal(valid.template, t.name);
      const filled = JSON.stringify({ ...valid, params: { ...valid.params, credentialSchema: null } });
      assert.doesNotMatch(filled, /\{[a-z_]+\}/, "every placeholder is filled");
      if (oauth) {
        assert.ok(valid.authUrl.startsWith("https://") && valid.tokenUrl.startsWith("https://"));
        assert.ok(t.setup.refresh !== "", "says what refresh needs");
      } else {
        assert.ok(valid.params.authStrategy !== undefined && valid.params.credentialSchema !== undefined);
      }
      for (const q of valid.params.quirks) assert.ok(t.notes.some((n) => n.about === `quirks.${q}`), `quirk ${q} is cited`);
      for (const f of valid.params.keepTokenFields) assert.ok(t.notes.some((n) => n.about === `keep_token_fields.${f}`), `field ${f} is cited`);
    });
  }

  it("the schema's quirk list is the OAuth core's own", () => {
    assert.deepEqual(providerTemplateSchema.properties.quirks.propertyNames.enum, [...quirkNames]);
  });
});

describe("loadTemplateCatalogue()", () => {
  it("refuses a file that breaks the schema, saying which file and where", () => {
    const message = refusal([variant((t) => { (t.profile as Record<string, unknown>).auth_url = "http://accounts.example/auth"; })]);
    assert.match(message, /providers\/templates\/google\.json: \/profile\/auth_url/);
  });

  it("refuses a quirk the OAuth core does not have", () => {
    assert.match(refusal([variant((t) => { t.quirks = { retry_forever: { note: "n", source: "https://example.com" } }; })]), /quirks/);
  });

  it("refuses a quirk without its source", () => {
    assert.match(refusal([variant((t) => { t.quirks = { error_in_200: { note: "n" } }; })]), /source/);
  });

  it("refuses a name that is not the file's", () => {
    assert.match(refusal([variant(() => {}, "providers/templates/gmail.json")]), /name "google" must be the file's name/);
  });

  it("refuses a placeholder used but not declared, and one declared but not used", () => {
    assert.match(refusal([variant((t) => { (t.profile as Record<string, unknown>).token_url = "https://{region}.example.com/token"; })]), /\{region\}/);
    assert.match(refusal([variant((t) => {
      t.placeholders = { region: { title: "R", description: "d", pattern: "^[a-z]+$", example: "eu" } };
    })]), /"region" is never used/);
  });

  it("refuses OAuth settings on a static template", () => {
    const message = refusal([variant((t) => {
      t.name = "stripe";
      const profile = t.profile as Record<string, unknown>;
      profile.auth_type = "api_key";
    }, "providers/templates/stripe.json")]);
    assert.match(message, /auth_url, token_url, revocation_url, scopes.*are for oauth2 templates/);
  });

  it("refuses the same template twice, and lists every problem at once", () => {
    const google = templateFiles.find((f) => f.file.endsWith("/google.json"))!;
    assert.match(refusal([google, google]), /"google" is defined twice/);
    const both = refusal([variant((t) => { t.docs_url = "ftp://x"; }), variant(() => {}, "providers/templates/other.json")]);
    assert.match(both, /docs_url[\s\S]*other\.json/);
  });
});

describe("applyTemplate()", () => {
  const template: TemplateProfile = {
    name: "acme",
    profile: {
      auth_type: "oauth2", auth_url: "https://{host}.acme.example/authorize", token_url: "https://{host}.acme.example/token", scopes: ["a", "b"],
      params: { authorize_params: { prompt: "consent", access_type: "offline" }, quirks: ["error_in_200"] },
    },
    placeholders: [{ name: "host", title: "Host", description: "the tenant's host label", pattern: "^[a-z]+$", example: "north" }],
  };

  it("fills placeholders, lays given fields over the template's and keeps empty ones from hiding them", () => {
    const out = applied({ name: "x", template: "acme", template_values: { host: "north" }, scopes: [], description: "", params: { authorize_params: { prompt: "none" } } }, template);
    assert.equal(out.auth_url, "https://north.acme.example/authorize");
    assert.deepEqual(out.scopes, ["a", "b"], "an empty list gives nothing");
    assert.deepEqual((out.params as JsonObject).authorize_params, { prompt: "none", access_type: "offline" });
    assert.deepEqual((out.params as JsonObject).quirks, ["error_in_200"]);
    assert.equal(out.template, "acme");
    assert.deepEqual(out.template_values, { host: "north" });
  });

  it("gives the same profile when applied again", () => {
    const once = applied({ name: "x", template: "acme", template_values: { host: "north" }, scopes: ["c"] }, template);
    assert.deepEqual(applied(once, template), once);
  });

  it("never fills a placeholder from a given field, only the template's", () => {
    const out = applied({ template_values: { host: "north" }, token_url: "https://{host}.other.example/t" }, template);
    assert.equal(out.token_url, "https://{host}.other.example/t");
  });

  it("refuses missing, malformed and unknown values, naming each field", () => {
    const reason = (profile: JsonObject) => {
      const result = applyTemplate(profile, template);
      return result.ok ? "accepted" : `${result.field}: ${result.message}`;
    };
    assert.match(reason({}), /^profile\.template_values\.host: .*required.*tenant's host label/);
    assert.match(reason({ template_values: { host: "north.evil.example/" } }), /^profile\.template_values\.host: .*must match/);
    assert.match(reason({ template_values: { host: "x".repeat(200) } }), /must match/);
    assert.match(reason({ template_values: { host: "north", shop: "s" } }), /^profile\.template_values\.shop: .*not a placeholder/);
    assert.match(reason({ template_values: { host: "north" }, auth_type: "api_key" }), /^profile\.auth_type: /);
  });
});
