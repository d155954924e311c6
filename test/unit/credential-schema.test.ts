/**
 * Credential schemas of static providers, captured-credential checks
 * (security.md C-51) and strategy/schema fit.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ErrorReason, NexusError } from "../../src/shared/errors.ts";
import type { AuthType, JsonObject, Strategy } from "../../src/broker/domain/provider.ts";
import {
  assertCredentialSchema,
  assertStrategyFits,
  defaultsFor,
  validateCredentials,
} from "../../src/broker/domain/credential-schema.ts";
import { createCredentialPatterns } from "../../src/broker/services/credential-patterns.ts";

const patterns = createCredentialPatterns();

const canary = "CANARY_AK_0123456789";

const schema: JsonObject = {
  type: "object",
  title: "Acme",
  description: "Acme API credentials",
  required: ["api_key"],
  additionalProperties: false,
  properties: {
    api_key: { type: "string", title: "API key", format: "password", minLength: 8, maxLength: 64, pattern: "^CANARY_AK_" },
    region: { type: "string", enum: ["eu", "us"], default: "eu", description: "Where your account lives" },
    note: { type: "string" },
  },
};

function expectError(fn: () => unknown, reason: ErrorReason, field: string, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof NexusError, String(error));
    assert.equal(error.reason, reason);
    assert.equal(error.field, field);
    assert.match(error.message, message);
    assert.ok(!error.message.includes(canary), "message must not hold the value");
    return true;
  });
}

const schemaError = (s: JsonObject, message: RegExp): void =>
  expectError(() => assertCredentialSchema(s, patterns), "invalid_argument", "profile.params.credential_schema", message);

const withProp = (prop: JsonObject): JsonObject => ({ type: "object", properties: { api_key: prop } });

describe("assertCredentialSchema", () => {
  it("accepts the supported subset", () => {
    assertCredentialSchema(schema, patterns);
  });

  it("requires type object and non-empty properties", () => {
    schemaError({ type: "array", properties: { a: { type: "string" } } }, /type must be "object"/);
    schemaError({ type: "object" }, /properties must be an object/);
    schemaError({ type: "object", properties: {} }, /properties must not be empty/);
  });

  it("limits the number of properties to 20", () => {
    const props = (n: number): JsonObject => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, { type: "string" }]));
    assertCredentialSchema({ type: "object", properties: props(20) }, patterns);
    schemaError({ type: "object", properties: props(21) }, /at most 20/);
  });

  it("rejects property names outside the pattern", () => {
    for (const name of ["ApiKey", "1key", "api-key", "", "a".repeat(65), "__proto__"]) {
      schemaError({ type: "object", properties: { [name]: { type: "string" } } }, /property names must match/);
    }
    assertCredentialSchema({ type: "object", properties: { ["a".repeat(64)]: { type: "string" } } }, patterns);
  });

  it("rejects unknown keywords by name, at the top and in properties", () => {
    schemaError({ ...schema, $ref: "#/x" }, /unsupported keyword "\$ref"/);
    schemaError(withProp({ type: "string", oneOf: [] }), /properties\.api_key has unsupported keyword "oneOf"/);
  });

  it("accepts only string properties", () => {
    schemaError(withProp({ type: "integer" }), /properties\.api_key\.type must be "string"/);
    schemaError({ type: "object", properties: { api_key: "string" } }, /properties\.api_key must be an object/);
  });

  it("checks the type of each keyword", () => {
    schemaError(withProp({ type: "string", title: 1 }), /title must be a string/);
    schemaError(withProp({ type: "string", default: null }), /default must be a string/);
    schemaError(withProp({ type: "string", minLength: -1 }), /minLength must be a non-negative integer/);
    schemaError(withProp({ type: "string", maxLength: 1.5 }), /maxLength must be a non-negative integer/);
    schemaError(withProp({ type: "string", maxLength: 8193 }), /maxLength must be at most 8192/);
    schemaError(withProp({ type: "string", minLength: 9, maxLength: 8 }), /minLength exceeds maxLength/);
    schemaError(withProp({ type: "string", pattern: "(" }), /pattern is not a valid regular expression/);
    schemaError(withProp({ type: "string", pattern: "\\p{Nope}" }), /pattern is not a valid regular expression/);
    schemaError(withProp({ type: "string", enum: [] }), /enum must be a non-empty array of strings/);
    schemaError(withProp({ type: "string", enum: ["a", 1] }), /enum must be a non-empty array of strings/);
  });

  it("checks required, additionalProperties and the top-level title", () => {
    schemaError({ ...schema, required: "api_key" }, /required must be an array/);
    schemaError({ ...schema, required: ["nope"] }, /required names a field that is not in properties/);
    schemaError({ ...schema, additionalProperties: true }, /additionalProperties may only be false/);
    schemaError({ ...schema, title: ["x"] }, /title must be a string/);
  });
});

const validate = (credentials: Record<string, string>): Record<string, string> => validateCredentials(schema, credentials, patterns);
const credentialError = (credentials: Record<string, string>, field: string, message: RegExp): void =>
  expectError(() => validate(credentials), "credential_invalid", field, message);

describe("validateCredentials", () => {
  it("returns the cleaned map in schema order, dropping empty optional fields", () => {
    assert.deepEqual(validate({ note: "", region: "us", api_key: canary }), { api_key: canary, region: "us" });
  });

  it("rejects a 0-byte required key (C-51)", () => {
    credentialError({ api_key: "" }, "credentials.api_key", /api_key is required/);
    credentialError({ region: "eu" }, "credentials.api_key", /api_key is required/);
  });

  it("rejects a 64 KB key, even with no maxLength in the schema (C-51)", () => {
    const big = canary + "x".repeat(64 * 1024);
    credentialError({ api_key: big }, "credentials.api_key", /at most 64 characters/);
    const loose: JsonObject = { type: "object", required: ["api_key"], properties: { api_key: { type: "string" } } };
    expectError(() => validateCredentials(loose, { api_key: big }, patterns), "credential_invalid", "credentials.api_key", /at most 8192 characters/);
    assert.deepEqual(validateCredentials(loose, { api_key: "k".repeat(8192) }, patterns), { api_key: "k".repeat(8192) });
  });

  it("rejects a key containing a newline or other control characters (C-51)", () => {
    for (const bad of [`${canary}\n`, `${canary}\r\nX-Evil: 1`, `${canary}\u0000`, `${canary}\u007f`, `${canary}\t`]) {
      credentialError({ api_key: bad }, "credentials.api_key", /control characters or line breaks/);
    }
    credentialError({ api_key: canary, note: "a\nb" }, "credentials.note", /control characters/);
  });

  it("enforces minLength, pattern and enum", () => {
    credentialError({ api_key: "CANARY" }, "credentials.api_key", /at least 8 characters/);
    credentialError({ api_key: `X${canary}` }, "credentials.api_key", /does not have the expected format/);
    credentialError({ api_key: canary, region: "ap" }, "credentials.region", /not one of the allowed values/);
  });

  it("rejects fields the schema does not define, naming them", () => {
    credentialError({ api_key: canary, extra: canary }, "credentials.extra", /extra is not a field of this provider/);
    credentialError({ api_key: canary, constructor: canary }, "credentials.constructor", /not a field/);
  });

  it("does not echo an unknown field name that could hold anything", () => {
    credentialError({ api_key: canary, [canary]: "x" }, "credentials", /a field this provider does not define/);
  });
});

describe("credential patterns (linear time)", () => {
  it("assertCredentialSchema refuses what RE2 cannot run in linear time: backreferences and lookaround", () => {
    for (const pattern of ["(a)\\1", "^(?=.*\\d)\\w+$", "(?!x)y", "(?<=a)b", "(?<!a)b"]) {
      schemaError(withProp({ type: "string", pattern }), /pattern cannot run in linear time .*backreferences and lookaround are not supported/);
    }
  });

  it("assertCredentialSchema refuses a pattern over 512 characters, and a repeat count RE2 will not expand", () => {
    schemaError(withProp({ type: "string", pattern: "a".repeat(513) }), /pattern must be at most 512 characters/);
    schemaError(withProp({ type: "string", pattern: "(a{100}){100}" }), /cannot run in linear time/);
  });

  it("accepts JavaScript syntax RE2 can run once translated (\\u escapes, named groups, classes)", () => {
    for (const pattern of ["^sk_[A-Za-z0-9]{20,64}$", "^\\u00e9+$", "^(?<prefix>ak)_\\d+$", "\\p{L}", "^(a|a)+$"]) {
      assertCredentialSchema(withProp({ type: "string", pattern }), patterns);
    }
    assert.equal(patterns.test("^\\u00e9+$", "ééé"), true);
    assert.equal(patterns.test("^(?<prefix>ak)_\\d+$", "ak_42"), true);
    assert.equal(patterns.test("^sk_[A-Za-z0-9]{20,64}$", "sk_short"), false);
  });

  it("matches unanchored, as JSON Schema's pattern does", () => {
    assert.equal(patterns.test("abc", "xxabcxx"), true);
    assert.equal(patterns.test("^abc$", "xxabcxx"), false);
  });

  it("runs ^(a|a)+$ on an 8192-character value in milliseconds, where a backtracking engine doubles per character", () => {
    const hostile: JsonObject = { type: "object", required: ["api_key"], properties: { api_key: { type: "string", pattern: "^(a|a)+$" } } };
    const started = performance.now();
    expectError(() => validateCredentials(hostile, { api_key: `${"a".repeat(8191)}!` }, patterns), "credential_invalid", "credentials.api_key", /expected format/);
    assert.deepEqual(validateCredentials(hostile, { api_key: "a".repeat(8192) }, patterns), { api_key: "a".repeat(8192) });
    assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  });

  it("never matches a stored pattern it cannot run (registered before the rule), rather than backtracking", () => {
    const old: JsonObject = { type: "object", required: ["api_key"], properties: { api_key: { type: "string", pattern: "(a)\\1" } } };
    expectError(() => validateCredentials(old, { api_key: "aa" }, patterns), "credential_invalid", "credentials.api_key", /expected format/);
  });
});

const fits = (authType: AuthType, strategy: Strategy, s: JsonObject = schema): void => assertStrategyFits(authType, strategy, s);
const strategyError = (authType: AuthType, strategy: Strategy, field: string, message: RegExp, s: JsonObject = schema): void =>
  expectError(() => fits(authType, strategy, s), "invalid_argument", field, message);

const awsSchema: JsonObject = {
  type: "object",
  required: ["access_key", "secret_key"],
  properties: { access_key: { type: "string" }, secret_key: { type: "string" }, session_token: { type: "string" } },
};

describe("assertStrategyFits", () => {
  it("accepts each strategy type with valid config", () => {
    fits("api_key", { type: "header", config: { header_name: "X-Api-Key", credential_field: "api_key" } });
    fits("header", { type: "header", config: { header_name: "Authorization", value_prefix: "Token ", credential_field: "api_key" } });
    fits("query_param", { type: "query_param", config: { param_name: "key", credential_field: "api_key" } });
    fits("basic_auth", { type: "basic_auth", config: { username_field: "note", password_field: "api_key" } });
    fits("hmac_payload", { type: "hmac_payload", config: { header_name: "X-Signature", secret_field: "api_key", algo: "sha1", encoding: "base64" } });
    fits("hmac_payload", { type: "hmac_payload", config: { header_name: "X-Signature", secret_field: "api_key" } });
    fits("aws_sigv4", { type: "aws_sigv4", config: { service: "execute-api", region: "eu-west-1" } }, awsSchema);
    fits("oauth2", { type: "oauth2", config: {} });
  });

  it("rejects oauth2 and unknown types for static providers, and non-oauth2 for oauth2 providers", () => {
    strategyError("api_key", { type: "oauth2", config: {} }, "profile.params.auth_strategy.type", /must be one of header/);
    strategyError("api_key", { type: "bearer", config: {} }, "profile.params.auth_strategy.type", /must be one of/);
    strategyError("api_key", { type: "constructor", config: {} }, "profile.params.auth_strategy.type", /must be one of/);
    strategyError("oauth2", { type: "header", config: {} }, "profile.params.auth_strategy.type", /oauth2 strategy/);
  });

  it("rejects unknown config keys by name", () => {
    strategyError("api_key", { type: "header", config: { header_name: "X-K", credential_field: "api_key", prefix: "x" } },
      "profile.params.auth_strategy.config", /unknown key "prefix"/);
    strategyError("oauth2", { type: "oauth2", config: { scope: "x" } }, "profile.params.auth_strategy.config.scope", /no config/);
  });

  it("requires each strategy's config keys", () => {
    const missing: [Strategy, string][] = [
      [{ type: "header", config: { credential_field: "api_key" } }, "header_name"],
      [{ type: "header", config: { header_name: "X-K" } }, "credential_field"],
      [{ type: "query_param", config: { credential_field: "api_key" } }, "param_name"],
      [{ type: "basic_auth", config: { username_field: "note" } }, "password_field"],
      [{ type: "hmac_payload", config: { header_name: "X-Sig" } }, "secret_field"],
      [{ type: "aws_sigv4", config: { service: "s3" } }, "region"],
    ];
    for (const [strategy, key] of missing) {
      strategyError("api_key", strategy, `profile.params.auth_strategy.config.${key}`, /is required/, strategy.type === "aws_sigv4" ? awsSchema : schema);
    }
  });

  it("checks config values", () => {
    const config = "profile.params.auth_strategy.config";
    strategyError("header", { type: "header", config: { header_name: "X Key", credential_field: "api_key" } }, `${config}.header_name`, /not a valid HTTP header name/);
    strategyError("header", { type: "header", config: { header_name: "X-K:", credential_field: "api_key" } }, `${config}.header_name`, /not a valid HTTP header name/);
    strategyError("header", { type: "header", config: { header_name: "X-K", value_prefix: "a\r\nb", credential_field: "api_key" } }, `${config}.value_prefix`, /control characters/);
    strategyError("hmac_payload", { type: "hmac_payload", config: { header_name: "X-S", secret_field: "api_key", algo: "md5" } }, `${config}.algo`, /sha256/);
    strategyError("hmac_payload", { type: "hmac_payload", config: { header_name: "X-S", secret_field: "api_key", encoding: "utf8" } }, `${config}.encoding`, /hex/);
    strategyError("aws_sigv4", { type: "aws_sigv4", config: { service: "S3", region: "eu-west-1" } }, `${config}.service`, /must match/, awsSchema);
    strategyError("aws_sigv4", { type: "aws_sigv4", config: { service: "s3", region: "eu west" } }, `${config}.region`, /must match/, awsSchema);
    strategyError("query_param", { type: "query_param", config: { param_name: "", credential_field: "api_key" } }, `${config}.param_name`, /must not be empty/);
  });

  it("rejects a strategy naming a field the schema lacks", () => {
    const config = "profile.params.auth_strategy.config";
    strategyError("api_key", { type: "header", config: { header_name: "X-K", credential_field: "token" } }, `${config}.credential_field`, /not in the credential schema/);
    strategyError("query_param", { type: "query_param", config: { param_name: "k", credential_field: "token" } }, `${config}.credential_field`, /not in the credential schema/);
    strategyError("basic_auth", { type: "basic_auth", config: { username_field: "username", password_field: "api_key" } }, `${config}.username_field`, /not in the credential schema/);
    strategyError("hmac_payload", { type: "hmac_payload", config: { header_name: "X-S", secret_field: "secret" } }, `${config}.secret_field`, /not in the credential schema/);
    strategyError("aws_sigv4", { type: "aws_sigv4", config: { service: "s3", region: "us-east-1" } }, "profile.params.auth_strategy.type", /field "access_key"/);
    const noSecret: JsonObject = { type: "object", properties: { access_key: { type: "string" } } };
    strategyError("aws_sigv4", { type: "aws_sigv4", config: { service: "s3", region: "us-east-1" } }, "profile.params.auth_strategy.type", /field "secret_key"/, noSecret);
  });
});

describe("defaultsFor", () => {
  it("gives api_key a header X-API-Key strategy over field api_key", () => {
    const d = defaultsFor("api_key");
    assert.deepEqual(d.strategy, { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } });
    assert.deepEqual(Object.keys(d.schema?.properties as JsonObject), ["api_key"]);
  });

  it("gives basic_auth username and password fields", () => {
    const d = defaultsFor("basic_auth");
    assert.equal(d.strategy?.type, "basic_auth");
    assert.deepEqual(Object.keys(d.schema?.properties as JsonObject), ["username", "password"]);
  });

  it("gives header an Authorization Bearer strategy", () => {
    assert.deepEqual(defaultsFor("header").strategy?.config, { header_name: "Authorization", value_prefix: "Bearer ", credential_field: "api_key" });
  });

  it("gives every static type a schema, but no strategy where only the operator knows the settings", () => {
    for (const t of ["query_param", "hmac_payload", "aws_sigv4"] as const) {
      const d = defaultsFor(t);
      assert.equal(d.strategy, undefined, t);
      assert.ok(d.schema, t);
      assertCredentialSchema(d.schema, patterns);
    }
    assert.deepEqual(defaultsFor("oauth2"), { schema: undefined, strategy: undefined });
  });

  it("returns defaults that pass their own checks", () => {
    for (const t of ["api_key", "basic_auth", "header"] as const) {
      const d = defaultsFor(t);
      assert.ok(d.schema && d.strategy, t);
      assertCredentialSchema(d.schema, patterns);
      assertStrategyFits(t, d.strategy, d.schema);
    }
  });
});
