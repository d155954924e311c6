/**
 * Static-credential providers: the JSON Schema of the fields a user enters
 * (a deliberately small subset: flat objects of strings), the checks on what
 * the user submits (security.md C-51), and how the strategy agents apply must
 * fit the schema. Pure.
 */
import { invalidArgument, NexusError } from "../../shared/errors.ts";
import { codePoints, credentialRefusal, hasControlCharacters, inputLimits, inputPatterns } from "../../shared/input-rules.ts";
import { type AuthType, defaultCredentialSchema, defaultStrategy, type Json, type JsonObject, type Strategy } from "./provider.ts";

const schemaField = "profile.params.credential_schema";
const strategyField = "profile.params.auth_strategy";

/** Property names: safe as form field names, HTML ids and log keys. */
const credentialFieldPattern = inputPatterns.credentialField;
/** Longest value a field may hold, and the default maxLength. */
const maxCredentialLength = inputLimits.credentialValueLength;
const maxPatternLength = inputLimits.credentialPatternLength;
const maxProperties = inputLimits.credentialFields;

/**
 * Runs `pattern`s. The Broker passes a linear-time engine (RE2), so that no
 * pattern a provider is registered with can stall the event loop on a
 * capture, whatever the input (a backtracking engine takes time doubling per
 * character on `^(a|a)+$`).
 */
export interface PatternEngine {
  /** Why the engine cannot run `source` (backreferences, lookaround, ...), or undefined when it can. */
  problem(source: string): string | undefined;
  /** Whether `value` contains a match of `source`, as JSON Schema's `pattern` means (unanchored). */
  test(source: string, value: string): boolean;
}

const topKeywords: ReadonlySet<string> = new Set(["type", "properties", "required", "additionalProperties", "title", "description"]);
const propertyKeywords: ReadonlySet<string> = new Set(["type", "title", "description", "format", "minLength", "maxLength", "pattern", "enum", "default"]);
const headerToken = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const awsName = /^[a-z0-9-]+$/;

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: Json | undefined): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

function badSchema(message: string): never {
  throw invalidArgument(schemaField, message);
}

function checkProperty(name: string, prop: Json | undefined, patterns: PatternEngine): void {
  const at = `properties.${name}`;
  if (!isObject(prop)) badSchema(`${at} must be an object`);
  for (const key of Object.keys(prop)) if (!propertyKeywords.has(key)) badSchema(`${at} has unsupported keyword "${key}"`);
  if (prop.type !== "string") badSchema(`${at}.type must be "string"`);
  for (const key of ["title", "description", "format", "default"]) {
    if (key in prop && typeof prop[key] !== "string") badSchema(`${at}.${key} must be a string`);
  }
  for (const key of ["minLength", "maxLength"]) {
    if (key in prop && !isCount(prop[key])) badSchema(`${at}.${key} must be a non-negative integer`);
  }
  const max = prop.maxLength ?? maxCredentialLength;
  if (typeof max === "number" && max > maxCredentialLength) badSchema(`${at}.maxLength must be at most ${maxCredentialLength}`);
  if (typeof prop.minLength === "number" && typeof max === "number" && prop.minLength > max) badSchema(`${at}.minLength exceeds maxLength`);
  if ("pattern" in prop) {
    if (typeof prop.pattern !== "string") badSchema(`${at}.pattern must be a string`);
    if (prop.pattern.length > maxPatternLength) badSchema(`${at}.pattern must be at most ${maxPatternLength} characters`);
    try {
      // Capture forms put the pattern in an HTML pattern attribute, so browsers must read it too.
      new RegExp(prop.pattern, "u");
    } catch {
      badSchema(`${at}.pattern is not a valid regular expression`);
    }
    const problem = patterns.problem(prop.pattern);
    if (problem !== undefined) {
      badSchema(`${at}.pattern cannot run in linear time (${problem}); backreferences and lookaround are not supported`);
    }
  }
  if ("enum" in prop) {
    const values = prop.enum;
    if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === "string")) {
      badSchema(`${at}.enum must be a non-empty array of strings`);
    }
  }
}

/**
 * Checks that a static provider's credential schema is within the supported
 * subset: `type: "object"`, 1–20 string `properties` named like `api_key`
 * (keywords title, description, format, minLength, maxLength ≤ 8192, pattern,
 * enum, default), `required` naming properties, `additionalProperties` only
 * `false`, and a top-level title/description. Anything else is rejected by name.
 * A `pattern` must be at most 512 characters and run on `patterns` (so no
 * backreferences or lookaround) as well as in browsers.
 *
 * @throws NexusError invalid_argument, field `profile.params.credential_schema`.
 */
export function assertCredentialSchema(schema: JsonObject, patterns: PatternEngine): void {
  if (!isObject(schema)) badSchema("must be an object");
  for (const key of Object.keys(schema)) if (!topKeywords.has(key)) badSchema(`unsupported keyword "${key}"`);
  if (schema.type !== "object") badSchema(`type must be "object"`);
  for (const key of ["title", "description"]) {
    if (key in schema && typeof schema[key] !== "string") badSchema(`${key} must be a string`);
  }
  if ("additionalProperties" in schema && schema.additionalProperties !== false) badSchema("additionalProperties may only be false");
  const properties = schema.properties;
  if (!isObject(properties)) badSchema("properties must be an object");
  const names = Object.keys(properties);
  if (names.length === 0) badSchema("properties must not be empty");
  if (names.length > maxProperties) badSchema(`properties may hold at most ${maxProperties} fields`);
  for (const name of names) {
    if (!credentialFieldPattern.test(name)) badSchema(`property names must match ${credentialFieldPattern.source}`);
    checkProperty(name, properties[name], patterns);
  }
  if ("required" in schema) {
    const required = schema.required;
    if (!Array.isArray(required)) badSchema("required must be an array of property names");
    for (const name of required) {
      if (typeof name !== "string" || !Object.hasOwn(properties, name)) badSchema("required names a field that is not in properties");
    }
  }
}

/** The properties of a schema already checked by {@linkcode assertCredentialSchema}, in order. */
function propertiesOf(schema: JsonObject): [string, JsonObject][] {
  const properties = isObject(schema.properties) ? schema.properties : {};
  return Object.entries(properties).filter((entry): entry is [string, JsonObject] => isObject(entry[1]));
}

/** The names a schema marks required. */
export function requiredFields(schema: JsonObject): ReadonlySet<string> {
  const required = Array.isArray(schema.required) ? schema.required : [];
  return new Set(required.filter((name): name is string => typeof name === "string"));
}

function badCredential(name: string, message: string): never {
  throw credentialRefusal(name, message);
}

/**
 * Checks what a user submitted against a provider's credential schema and
 * returns the cleaned map, in schema order, without empty optional fields.
 * Rejected: a missing or empty required field, a field the schema lacks,
 * control characters (newlines included), values outside min/maxLength
 * (default max 8192), and pattern or enum mismatches. Patterns run on
 * `patterns`, after the length checks. Messages never hold a value.
 *
 * @throws NexusError credential_invalid, field `credentials.<name>`.
 */
export function validateCredentials(schema: JsonObject, credentials: Readonly<Record<string, string>>, patterns: PatternEngine): Record<string, string> {
  const properties = propertiesOf(schema);
  const known = new Set(properties.map(([name]) => name));
  for (const name of Object.keys(credentials)) {
    if (known.has(name)) continue;
    // Echo the name only when it is one we could have defined: it is user input.
    if (credentialFieldPattern.test(name)) badCredential(name, "is not a field of this provider");
    throw new NexusError("credential_invalid", "credentials hold a field this provider does not define", { field: "credentials" });
  }
  const required = requiredFields(schema);
  const cleaned: Record<string, string> = {};
  for (const [name, prop] of properties) {
    const value: unknown = Object.hasOwn(credentials, name) ? credentials[name] : undefined;
    if (value !== undefined && typeof value !== "string") badCredential(name, "must be a string");
    if (value === undefined || value === "") {
      if (required.has(name)) badCredential(name, "is required");
      continue;
    }
    // Newlines included: a value with a line break is a paste accident or header injection (C-51).
    if (hasControlCharacters(value)) badCredential(name, "must not contain control characters or line breaks");
    const length = codePoints(value);
    const max = typeof prop.maxLength === "number" ? prop.maxLength : maxCredentialLength;
    if (length > max) badCredential(name, `must be at most ${max} characters`);
    if (typeof prop.minLength === "number" && length < prop.minLength) badCredential(name, `must be at least ${prop.minLength} characters`);
    if (Array.isArray(prop.enum) && !prop.enum.includes(value)) badCredential(name, "is not one of the allowed values");
    if (typeof prop.pattern === "string" && !patterns.test(prop.pattern, value)) badCredential(name, "does not have the expected format");
    cleaned[name] = value;
  }
  return cleaned;
}

/** Per strategy type: config keys that must be set, may be set, and those that name schema fields. */
interface StrategyRule {
  readonly required: readonly string[];
  readonly optional: readonly string[];
  readonly fieldKeys: readonly string[];
  /** Schema fields the strategy reads without naming them in config. */
  readonly impliedFields: readonly string[];
}

const strategyRules: Readonly<Record<string, StrategyRule>> = {
  header: { required: ["header_name", "credential_field"], optional: ["value_prefix"], fieldKeys: ["credential_field"], impliedFields: [] },
  query_param: { required: ["param_name", "credential_field"], optional: [], fieldKeys: ["credential_field"], impliedFields: [] },
  basic_auth: { required: ["username_field", "password_field"], optional: [], fieldKeys: ["username_field", "password_field"], impliedFields: [] },
  hmac_payload: { required: ["header_name", "secret_field"], optional: ["algo", "encoding"], fieldKeys: ["secret_field"], impliedFields: [] },
  aws_sigv4: { required: ["service", "region"], optional: [], fieldKeys: [], impliedFields: ["access_key", "secret_key"] },
};

/** Value checks beyond "present": `undefined` means fine, else the problem. */
function configProblem(key: string, value: string): string | undefined {
  if (hasControlCharacters(value)) return "must not contain control characters";
  if (key === "value_prefix") return undefined;
  if (value === "") return "must not be empty";
  if (key === "header_name" && !headerToken.test(value)) return "is not a valid HTTP header name";
  if (key === "algo" && value !== "sha256" && value !== "sha1") return `must be "sha256" or "sha1"`;
  if (key === "encoding" && value !== "hex" && value !== "base64") return `must be "hex" or "base64"`;
  if ((key === "service" || key === "region") && !awsName.test(value)) return `must match ${awsName.source}`;
  return undefined;
}

/**
 * Checks that a provider's strategy is one agents can apply to its auth type
 * and that every credential field it reads is in the schema. Static auth types
 * take header, query_param, basic_auth, hmac_payload or aws_sigv4 (config as in
 * the strategy table of the API; unknown keys rejected); oauth2 takes only
 * oauth2, with no config.
 *
 * @throws NexusError invalid_argument, field `profile.params.auth_strategy…`.
 */
export function assertStrategyFits(authType: AuthType, strategy: Strategy, schema: JsonObject): void {
  const config = strategy.config;
  const keys = Object.keys(config);
  if (authType === "oauth2") {
    if (strategy.type !== "oauth2") throw invalidArgument(`${strategyField}.type`, "oauth2 providers use the oauth2 strategy");
    if (keys.length > 0) throw invalidArgument(`${strategyField}.config.${keys[0]}`, "the oauth2 strategy takes no config");
    return;
  }
  const rule = Object.hasOwn(strategyRules, strategy.type) ? strategyRules[strategy.type] : undefined;
  if (rule === undefined) {
    throw invalidArgument(`${strategyField}.type`, `must be one of ${Object.keys(strategyRules).join(", ")} for static providers`);
  }
  for (const key of keys) {
    if (!rule.required.includes(key) && !rule.optional.includes(key)) {
      throw invalidArgument(`${strategyField}.config`, `unknown key "${key}" for strategy ${strategy.type}`);
    }
  }
  for (const key of rule.required) {
    if (!Object.hasOwn(config, key)) throw invalidArgument(`${strategyField}.config.${key}`, `is required for strategy ${strategy.type}`);
  }
  for (const key of keys) {
    const value: unknown = config[key];
    const problem = typeof value === "string" ? configProblem(key, value) : "must be a string";
    if (problem !== undefined) throw invalidArgument(`${strategyField}.config.${key}`, problem);
  }
  const known = new Set(propertiesOf(schema).map(([name]) => name));
  for (const key of rule.fieldKeys) {
    if (!known.has(config[key] ?? "")) throw invalidArgument(`${strategyField}.config.${key}`, `names a field that is not in the credential schema`);
  }
  for (const name of rule.impliedFields) {
    if (!known.has(name)) throw invalidArgument(`${strategyField}.type`, `${strategy.type} needs the credential schema to have field "${name}"`);
  }
}

/**
 * The schema and strategy a static provider gets when registered without
 * them. Every static type has a default schema; a default strategy exists
 * only for `api_key` (header X-API-Key), `basic_auth` and `header`
 * (`Authorization: Bearer`). `query_param`, `hmac_payload` and `aws_sigv4`
 * need a parameter name, header name or AWS service and region only the
 * operator knows, so registration must give their `auth_strategy`.
 */
export function defaultsFor(authType: AuthType): { schema: JsonObject | undefined; strategy: Strategy | undefined } {
  const strategy = authType === "header"
    ? { type: "header", config: { header_name: "Authorization", value_prefix: "Bearer ", credential_field: "api_key" } }
    : authType === "oauth2" ? undefined : defaultStrategy(authType);
  return { schema: defaultCredentialSchema(authType), strategy };
}
