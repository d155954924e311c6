/**
 * Manifest checking for `nexus plan` and `apply`: every problem at once,
 * each with its line, column and JSONPath, for YAML and JSON alike; secret
 * references read from the environment and from files beside the manifest,
 * and reported by reference, never by value.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LineCounter, parseDocument } from "yaml";
import { loadManifest } from "../../src/cli/manifest/load-manifest.ts";
import { ManifestError } from "../../src/cli/manifest/manifest-error.ts";
import { parseManifest } from "../../src/cli/manifest/parse-manifest.ts";
import { createSourceMap, fromJsonPointer, jsonPath } from "../../src/cli/manifest/source-map.ts";

/** The problems parseManifest reports, as "line:col path message". */
function problemsOf(text: string, file = "m.yaml"): string[] {
  try {
    parseManifest(text, file);
  } catch (error) {
    assert.ok(error instanceof ManifestError, String(error));
    return error.problems.map((p) => `${p.line}:${p.col} ${p.path} ${p.message}`);
  }
  return [];
}

describe("createSourceMap()", () => {
  const text = "version: 1\nproviders:\n  - name: a\n    auth_type: api_key\n    scopes: [x, y]\n";
  const lines = new LineCounter();
  const map = createSourceMap(parseDocument(text, { lineCounter: lines }), lines);

  it("at() locates values, keys and array items", () => {
    assert.deepEqual(map.at(["providers", 0, "auth_type"]), { line: 4, col: 16 });
    assert.deepEqual(map.at(["providers", 0], "auth_type"), { line: 4, col: 5 });
    assert.deepEqual(map.at(["providers", 0, "scopes", 1]), { line: 5, col: 17 });
  });

  it("at() falls back to the nearest node that exists", () => {
    assert.deepEqual(map.at(["providers", 0, "missing", 3]), { line: 3, col: 5 });
    assert.deepEqual(map.at(["nothing"]), { line: 1, col: 1 });
  });

  it("jsonPath() and fromJsonPointer() convert ajv's pointers to JSONPath", () => {
    assert.deepEqual(fromJsonPointer("/providers/10/params/a~1b"), ["providers", 10, "params", "a/b"]);
    assert.equal(jsonPath(["providers", 10, "params", "a/b"]), '$.providers[10].params["a/b"]');
  });
});

describe("parseManifest()", () => {
  it("accepts a good manifest", () => {
    const { manifest } = parseManifest("version: 1\nproviders:\n  - {name: a, auth_type: api_key}\nagents: [{name: bot}]\n", "m.yml");
    assert.equal(manifest.providers?.[0]?.name, "a");
    assert.equal(manifest.agents?.[0]?.name, "bot");
  });

  it("reports an unknown key, a wrong type and a duplicate name at once, each at its line", () => {
    const text = [
      "version: 1", "providers:", "  - name: crm", "    auth_type: api_key", "    colour: blue",
      "  - name: crm", "    auth_type: oauth2", "    scopes: read", "agents:", "  - name: bot", "  - name: bot", "    api_key: x",
    ].join("\n");
    assert.deepEqual(problemsOf(text), [
      '5:5 $.providers[0].colour unknown key "colour" (expected one of: name, template, template_values, auth_type, client_id, client_secret, issuer, enable_discovery, auth_url, token_url, revocation_url, scopes, params, description, category, api_base_url, user_info_endpoint, aliases)',
      '6:11 $.providers[1].name duplicate provider name "crm" (first at line 3)',
      "8:13 $.providers[1].scopes must be an array",
      '11:11 $.agents[1].name duplicate agent name "bot" (first at line 10)',
      "12:5 $.agents[1].api_key unknown key \"api_key\" (an agent's API key is never in a manifest: apply prints a new agent's key once)",
    ]);
  });

  it("locates problems in a JSON manifest too", () => {
    const text = '{\n  "version": 1,\n  "providers": [\n    {"name": "a", "auth_type": "api_key", "aliases": ["b"]},\n    {"name": "b", "auth_type": "nope"}\n  ]\n}\n';
    assert.deepEqual(problemsOf(text, "m.json"), [
      '4:55 $.providers[0].aliases[0] alias "b" is also a provider\'s name (line 5)',
      '5:32 $.providers[1].auth_type must be one of "oauth2", "api_key", "basic_auth", "header", "query_param", "hmac_payload", "aws_sigv4"',
    ]);
  });

  it("refuses an inline secret without repeating it", () => {
    const problems = problemsOf("version: 1\nproviders:\n  - name: a\n    auth_type: oauth2\n    client_secret: hunter2-inline\n");
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^5:20 \$\.providers\[0\]\.client_secret must be a secret reference/);
    assert.doesNotMatch(problems[0]!, /hunter2/);
  });

  it("reports YAML errors (a duplicate key, several documents), a wrong version and an empty file", () => {
    assert.deepEqual(problemsOf("version: 1\nversion: 1\n"), ["2:1 $ not valid YAML: Map keys must be unique"]);
    assert.match(problemsOf("version: 1\n---\nversion: 1\n")[0]!, /multiple documents/);
    assert.deepEqual(problemsOf("version: 2\n"), ["1:10 $.version must be 1, the only manifest version"]);
    assert.deepEqual(problemsOf("providers: []\n"), ['1:1 $ missing required key "version"']);
    assert.deepEqual(problemsOf("# nothing\n"), ["1:1 $ is empty; a manifest starts with version: 1"]);
    assert.match(problemsOf('{"version": 1, "agents": [{"name": bot}]}', "m.json")[0]!, /not valid JSON/);
  });

  it("takes a template in place of auth_type, and says so when a provider has neither", () => {
    assert.deepEqual(problemsOf("version: 1\nproviders:\n  - name: google\n    template: google\n    template_values: {}\n"), []);
    assert.deepEqual(problemsOf("version: 1\nproviders:\n  - name: google\n    client_id: c\n"),
      ["3:5 $.providers[0] needs auth_type, or a template that sets it (see GET /provider-templates)"]);
    assert.deepEqual(problemsOf("version: 1\nproviders:\n  - name: ms\n    template: microsoft\n    template_values: { tenant: 3 }\n"),
      ["5:32 $.providers[0].template_values.tenant must be a string"]);
  });

  it("names the file in its message, with one line per problem", () => {
    assert.throws(() => parseManifest("version: 1\nextra: 1\n", "dir/nexus.yaml"), /^ManifestError: dir\/nexus\.yaml has 1 problem; nothing was changed:\n {2}dir\/nexus\.yaml:2:1: \$\.extra: unknown key "extra"/);
  });
});

describe("loadManifest()", () => {
  const files: Record<string, string> = {
    "conf/nexus.yaml": [
      "version: 1", "providers:",
      "  - {name: a, auth_type: oauth2, client_secret: '${env:A_SECRET}'}",
      "  - {name: b, auth_type: oauth2, client_secret: '${file:b.secret}'}",
      "  - {name: c, auth_type: oauth2, client_secret: '${env:UNSET_SECRET}'}",
      "  - {name: d, auth_type: oauth2, client_secret: '${file:missing.secret}'}",
      "agents:", "  - {name: bot, jwks: '${file:bot.jwks}'}",
    ].join("\n"),
    "conf/b.secret": "file-secret-value\n",
    "conf/bot.jwks": '{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "k1"}]}',
  };
  const io = (env: Record<string, string>) => ({
    env,
    readFile: async (path: string) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
      return text;
    },
  });

  it("reports every unreadable reference at once, by reference and line", async () => {
    await assert.rejects(loadManifest("conf/nexus.yaml", io({ A_SECRET: "env-secret-value" })), (error: unknown) => {
      assert.ok(error instanceof ManifestError);
      assert.deepEqual(error.problems.map((p) => `${p.line} ${p.path} ${p.message}`), [
        "5 $.providers[2].client_secret ${env:UNSET_SECRET}: the environment variable UNSET_SECRET is not set",
        "6 $.providers[3].client_secret ${file:missing.secret}: cannot read conf/missing.secret (no such file)",
      ]);
      assert.doesNotMatch(error.message, /env-secret-value|file-secret-value/);
      return true;
    });
  });

  it("reads env and file references (relative to the manifest, trailing newline dropped) and JWK Sets", async () => {
    const ok = files["conf/nexus.yaml"]!.split("\n").filter((l) => !/UNSET|missing/.test(l)).join("\n");
    files["conf/ok.yaml"] = ok;
    const resolved = await loadManifest("conf/ok.yaml", io({ A_SECRET: "env-secret-value" }));
    assert.deepEqual(resolved.providers.map((p) => p.clientSecret), ["env-secret-value", "file-secret-value"]);
    assert.deepEqual(resolved.secrets, ["env-secret-value", "file-secret-value"]);
    assert.equal((resolved.agents[0]!.jwks as { keys: unknown[] }).keys.length, 1);
  });

  it("reports unreadable references together with the manifest's other problems", async () => {
    files["both.yaml"] = "version: 1\nproviders:\n  - {name: a, auth_type: oauth2, colour: red, client_secret: '${env:NOPE}'}\n";
    await assert.rejects(loadManifest("both.yaml", io({})), (error: unknown) => {
      assert.ok(error instanceof ManifestError);
      assert.deepEqual(error.problems.map((p) => p.path), ["$.providers[0].colour", "$.providers[0].client_secret"]);
      return true;
    });
  });

  it("calls an empty variable unreadable too: an empty secret would silently keep the stored one", async () => {
    files["x.yaml"] = "version: 1\nproviders: [{name: a, auth_type: oauth2, client_secret: '${env:EMPTY}'}]\n";
    await assert.rejects(loadManifest("x.yaml", io({ EMPTY: "" })), /\$\{env:EMPTY\}: the environment variable EMPTY is empty/);
  });
});
