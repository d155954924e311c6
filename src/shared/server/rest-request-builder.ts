import {
  type DescEnum,
  type DescField,
  type DescMessage,
  fromJson,
  type JsonObject,
  type JsonValue,
  type MessageShape,
  ScalarType,
} from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import { withReason } from "../connect-errors.ts";
import { decodePathValue, type PathTemplate } from "./path-template.ts";

/** A request body, already read and parsed by content type. */
export type RestBody = { readonly kind: "json"; readonly value: JsonValue } | { readonly kind: "form"; readonly params: URLSearchParams };

/** Options of {@linkcode createRestRequestBuilder}. */
export interface RestRequestBuilderOptions {
  /** The method's input message. */
  input: DescMessage;
  /** The route's compiled path template; its variables name fields of `input`. */
  template: PathTemplate;
  /** The rule's `body`: `""`, `"*"` or a top-level field name. */
  body: string;
  /** The route's HTTP method; PATCH derives a missing `update_mask`. */
  httpMethod: string;
  /** Deepest message nesting accepted. @default 100 (protobuf-es's own) */
  recursionLimit?: number;
}

/** Builds one route's request message from path, query and body. */
export interface RestRequestBuilder {
  /** False when the rule has no `body`: then any real body is refused. */
  readonly takesBody: boolean;
  /**
   * Assembles the request as JSON and parses it strictly.
   * Throws a ConnectError (`invalid_argument`) naming the input at fault.
   */
  build(captures: readonly string[], query: URLSearchParams, body: RestBody | undefined): MessageShape<DescMessage>;
}

const strict = { ignoreUnknownFields: false } as const;

/**
 * Compiles how one route turns an HTTP request into its input message. Field
 * paths are resolved here, once, so that a bad annotation fails at startup.
 */
export function createRestRequestBuilder(options: RestRequestBuilderOptions): RestRequestBuilder {
  const { input, template } = options;
  const parseOptions = { ...strict, ...(options.recursionLimit === undefined ? {} : { recursionLimit: options.recursionLimit }) };
  const where = `${input.typeName} (${template.source})`;
  const pathFields = template.variables.map((v) => {
    const fields = resolveFieldPath(input, v.fieldPath, where);
    const leaf = fields[fields.length - 1] as DescField;
    if (leaf.fieldKind !== "scalar" && leaf.fieldKind !== "enum") throw new Error(`${where}: path variable ${v.fieldPath.join(".")} must be a scalar field`);
    return { fields, name: fields.map((f) => f.name).join("."), multiSegment: v.end < 0 || v.end - v.start > 1 };
  });
  const bodyField = options.body === "" || options.body === "*" ? undefined : resolveFieldPath(input, [options.body], where)[0];
  const maskCandidate = input.fields.find((f) => f.name === "update_mask");
  const maskField = options.httpMethod === "PATCH" && maskCandidate?.message?.typeName === "google.protobuf.FieldMask" && maskCandidate.fieldKind === "message" ? maskCandidate : undefined;

  function build(captures: readonly string[], query: URLSearchParams, body: RestBody | undefined): MessageShape<DescMessage> {
    let root: JsonObject = {};
    if (body !== undefined) {
      if (bodyField === undefined) {
        const value = body.kind === "json" ? body.value : paramsToJson(input, body.params, "form field", () => false);
        if (!isObject(value)) throw invalid("the request body must be a JSON object", undefined);
        root = value;
      } else {
        root[bodyField.name] = bodyValue(bodyField, body);
      }
    }
    if (options.body !== "*") {
      // Query parameters fill only what path and body leave open.
      paramsToJson(input, query, "query parameter", (path) => isBound(path), root);
    }
    if (maskField !== undefined && body !== undefined && keyOf(root, maskField) === undefined) deriveMask(root, maskField);
    pathFields.forEach((p, i) => {
      const raw = captures[i] ?? "";
      const text = decodePathValue(raw, p.multiSegment);
      if (text === undefined) throw invalid(`path segment ${JSON.stringify(raw)} for "${p.name}" is not valid percent-encoding`, p.name);
      const leaf = p.fields[p.fields.length - 1] as DescField;
      setFromPath(root, p.fields, p.name, convert(leaf, text, `path variable "${p.name}"`, p.name));
    });
    rejectUnknownKeys(input, root, "");
    try {
      return fromJson(input, root, parseOptions);
    } catch (error) {
      const at = locate(input, root, "");
      const detail = error instanceof Error ? error.message : String(error);
      throw invalid(at === undefined ? `the request is invalid: ${detail}` : `invalid value for field "${at}": ${detail}`, at);
    }
  }

  function isBound(path: string): boolean {
    if (bodyField !== undefined && (path === bodyField.name || path.startsWith(`${bodyField.name}.`))) return true;
    return pathFields.some((p) => p.name === path || p.name.startsWith(`${path}.`) || path.startsWith(`${p.name}.`));
  }

  function bodyValue(field: DescField, body: RestBody): JsonValue {
    if (body.kind === "form") {
      if (field.fieldKind !== "message") throw invalid(`the body of this route is the field "${field.name}"; send it as JSON`, field.name);
      return paramsToJson(field.message, body.params, "form field", () => false);
    }
    if (field.fieldKind === "message" && !isWkt(field.message) && !isObject(body.value)) {
      throw invalid(`the request body must be a JSON object (it is the field "${field.name}")`, field.name);
    }
    return body.value;
  }

  /** The one message-typed field in the body names, by its keys, what a PATCH changes. */
  function deriveMask(root: JsonObject, mask: DescField): void {
    const keys = bodyField === undefined ? Object.keys(root) : [bodyField.name];
    const targets: { field: DescField; value: JsonObject }[] = [];
    for (const key of keys) {
      const field = fieldByName(input, key);
      const value = root[key];
      if (field?.fieldKind === "message" && field !== mask && !isWkt(field.message) && isObject(value)) targets.push({ field, value });
    }
    if (targets.length !== 1) return;
    const { field, value } = targets[0] as { field: DescField; value: JsonObject };
    root[mask.name] = field.message === undefined ? Object.keys(value).map(lowerCamel).join(",") : maskPaths(field.message, value, "").join(",");
  }

  /**
   * The paths a PATCH body names: a message field of the body (not a map, not
   * a well-known type such as Struct) is descended into once, so `{"params":
   * {"pkce": false}}` changes params.pkce alone rather than replacing params;
   * anything deeper (params.auth_strategy) is replaced whole.
   */
  function maskPaths(message: DescMessage, value: JsonObject, prefix: string): string[] {
    return Object.keys(value).flatMap((key) => {
      const field = fieldByName(message, key);
      const name = lowerCamel(field?.name ?? key);
      const nested = value[key];
      if (prefix === "" && field?.fieldKind === "message" && !isWkt(field.message) && isObject(nested) && Object.keys(nested).length > 0) {
        return maskPaths(field.message, nested, `${prefix}${name}.`);
      }
      return [`${prefix}${name}`];
    });
  }

  return { takesBody: options.body !== "", build };
}

function invalid(message: string, field: string | undefined): ConnectError {
  return withReason("invalid_argument", message, field === undefined ? {} : { field });
}

function resolveFieldPath(message: DescMessage, names: readonly string[], where: string): DescField[] {
  const fields: DescField[] = [];
  let current: DescMessage | undefined = message;
  for (const name of names) {
    const field: DescField | undefined = current?.fields.find((f) => f.name === name);
    if (field === undefined) throw new Error(`${where}: no field ${names.join(".")}`);
    fields.push(field);
    current = field.fieldKind === "message" ? field.message : undefined;
  }
  return fields;
}

const fieldsByName = new WeakMap<DescMessage, Map<string, DescField>>();

/** A field by its proto name or its JSON name, as fromJson accepts both. */
function fieldByName(message: DescMessage, name: string): DescField | undefined {
  let map = fieldsByName.get(message);
  if (map === undefined) {
    map = new Map();
    for (const f of message.fields) map.set(f.name, f).set(f.jsonName, f);
    fieldsByName.set(message, map);
  }
  return map.get(name);
}

function keyOf(object: JsonObject, field: DescField): string | undefined {
  if (Object.hasOwn(object, field.name)) return field.name;
  if (Object.hasOwn(object, field.jsonName)) return field.jsonName;
  return undefined;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isWkt(message: DescMessage): boolean {
  return message.typeName.startsWith("google.protobuf.");
}

function lowerCamel(path: string): string {
  return path.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Path variables win over the body, but a body that disagrees is refused rather than silently overridden. */
function setFromPath(root: JsonObject, fields: readonly DescField[], name: string, value: JsonValue): void {
  let object = root;
  for (const field of fields.slice(0, -1)) {
    const key = keyOf(object, field) ?? field.name;
    const next = object[key];
    if (isObject(next)) object = next;
    else object = object[key] = {};
  }
  const leaf = fields[fields.length - 1] as DescField;
  const key = keyOf(object, leaf) ?? leaf.name;
  const given = object[key];
  if (given !== undefined && given !== null && String(given) !== String(value)) {
    throw invalid(`field "${name}" is ${JSON.stringify(value)} in the path but ${JSON.stringify(given)} in the request body`, name);
  }
  object[key] = value;
}

/**
 * Sets fields from query or form parameters: dotted names reach into nested
 * messages, `m.key` or `m[key]` sets a map entry, and a repeated field takes
 * one value per occurrence. Unknown names are skipped: OAuth providers add
 * their own parameters to callback URLs.
 */
function paramsToJson(message: DescMessage, params: URLSearchParams, noun: string, skip: (path: string) => boolean, into: JsonObject = {}): JsonObject {
  for (const [name, raw] of params) {
    const target = resolveParam(message, name.replace(/\[([^\]]*)\]/g, ".$1").split("."));
    if (target === undefined) continue;
    const { fields, mapKey } = target;
    const leaf = fields[fields.length - 1] as DescField;
    const path = fields.map((f) => f.name).join(".");
    if (skip(path)) continue;
    const label = `${noun} "${name}"`;
    let object = into;
    for (const field of fields.slice(0, -1)) {
      const next = object[field.name];
      object = isObject(next) ? next : (object[field.name] = {});
    }
    if (leaf.fieldKind === "map") {
      if (mapKey === undefined || mapKey === "") throw invalid(`${label} names a map; give a key, as ${name}.key=value`, path);
      let map = object[leaf.name];
      // No prototype, so that a key such as "__proto__" is an ordinary entry.
      if (!isObject(map)) map = object[leaf.name] = Object.create(null) as JsonObject;
      if (Object.hasOwn(map, mapKey)) throw invalid(`${label} is given more than once`, path);
      map[mapKey] = convert(leaf, raw, label, path);
    } else if (leaf.fieldKind === "list") {
      const list = object[leaf.name];
      const value = convert(leaf, raw, label, path);
      if (Array.isArray(list)) list.push(value);
      else object[leaf.name] = [value];
    } else {
      if (Object.hasOwn(object, leaf.name)) throw invalid(`${label} is given more than once`, path);
      object[leaf.name] = convert(leaf, raw, label, path);
    }
  }
  return into;
}

/** The fields a parameter name walks through, or undefined when it names no field. */
function resolveParam(message: DescMessage, segments: readonly string[]): { fields: DescField[]; mapKey: string | undefined } | undefined {
  const fields: DescField[] = [];
  let current = message;
  for (let i = 0; i < segments.length; i++) {
    const field = fieldByName(current, segments[i] as string);
    if (field === undefined) return undefined;
    fields.push(field);
    if (field.fieldKind === "map") return { fields, mapKey: segments.slice(i + 1).join(".") };
    if (i === segments.length - 1) return { fields, mapKey: undefined };
    if (field.fieldKind !== "message" || isWkt(field.message)) return undefined;
    current = field.message;
  }
  return undefined;
}

const int32Range = [-(2n ** 31n), 2n ** 31n - 1n] as const;
const uint32Range = [0n, 2n ** 32n - 1n] as const;
const int64Range = [-(2n ** 63n), 2n ** 63n - 1n] as const;
const uint64Range = [0n, 2n ** 64n - 1n] as const;

/** Turns a text value into the JSON fromJson expects for the field's type. */
function convert(field: { scalar: ScalarType | undefined; enum: DescEnum | undefined; message: DescMessage | undefined }, raw: string, label: string, path: string): JsonValue {
  if (field.enum !== undefined) {
    if (field.enum.values.some((v) => v.name === raw)) return raw;
    if (/^-?\d+$/.test(raw) && inRange(raw, int32Range)) return Number(raw);
    throw invalid(`${label} must be one of ${field.enum.values.map((v) => v.name).join(", ")}, got ${JSON.stringify(raw)}`, path);
  }
  if (field.message !== undefined) return convertMessage(field.message, raw, label, path);
  switch (field.scalar) {
    case ScalarType.BOOL:
      if (raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0") return false;
      throw invalid(`${label} must be true or false, got ${JSON.stringify(raw)}`, path);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return integer(raw, int32Range, false, label, path);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return integer(raw, uint32Range, false, label, path);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return integer(raw, int64Range, true, label, path);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return integer(raw, uint64Range, true, label, path);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT: {
      if (raw === "NaN" || raw === "Infinity" || raw === "-Infinity") return raw;
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) throw invalid(`${label} must be a number, got ${JSON.stringify(raw)}`, path);
      return n;
    }
    default:
      // Strings as they are; bytes as base64 text, which fromJson decodes.
      return raw;
  }
}

function convertMessage(message: DescMessage, raw: string, label: string, path: string): JsonValue {
  const name = message.typeName;
  if (name === "google.protobuf.FieldMask") {
    return raw
      .split(",")
      .map((p) => p.trim())
      .filter((p) => p !== "")
      .map((p) => p.split(".").map(lowerCamel).join("."))
      .join(",");
  }
  const valueField = message.fields[0];
  if (/^google\.protobuf\.[A-Za-z0-9]+Value$/.test(name) && message.fields.length === 1 && valueField?.fieldKind === "scalar") {
    return convert(valueField, raw, label, path);
  }
  if (name === "google.protobuf.Timestamp" || name === "google.protobuf.Duration") {
    try {
      fromJson(message, raw, strict);
    } catch {
      const example = name === "google.protobuf.Timestamp" ? "an RFC 3339 timestamp such as 2024-01-02T03:04:05Z" : "a duration such as 1.5s";
      throw invalid(`${label} must be ${example}, got ${JSON.stringify(raw)}`, path);
    }
    return raw;
  }
  throw invalid(`${label} names a message (${name}); set its fields one by one, as ${path}.<field>=value`, path);
}

function integer(raw: string, range: readonly [bigint, bigint], asString: boolean, label: string, path: string): JsonValue {
  if (!/^-?\d+$/.test(raw) || !inRange(raw, range)) {
    throw invalid(`${label} must be an integer from ${range[0]} to ${range[1]}, got ${JSON.stringify(raw)}`, path);
  }
  // 64-bit integers stay strings: a JSON number would lose precision.
  return asString ? BigInt(raw).toString() : Number(raw);
}

function inRange(raw: string, range: readonly [bigint, bigint]): boolean {
  const n = BigInt(raw);
  return n >= range[0] && n <= range[1];
}

/** Refuses unknown keys with a plain message; fromJson's own would name no path. */
function rejectUnknownKeys(message: DescMessage, json: JsonValue | undefined, path: string): void {
  if (isWkt(message) || !isObject(json)) return;
  for (const [key, value] of Object.entries(json)) {
    const at = path === "" ? key : `${path}.${key}`;
    const field = fieldByName(message, key);
    if (field === undefined) throw invalid(`unknown field "${key}" in ${message.typeName}`, at);
    if (field.message === undefined || value === null) continue;
    if (field.fieldKind === "list" && Array.isArray(value)) value.forEach((item) => rejectUnknownKeys(field.message, item, at));
    else if (field.fieldKind === "map" && isObject(value)) Object.values(value).forEach((item) => rejectUnknownKeys(field.message, item, at));
    else if (field.fieldKind === "message") rejectUnknownKeys(field.message, value, at);
  }
}

/** Finds the key fromJson choked on by parsing key by key; runs only on the error path. */
function locate(message: DescMessage, json: JsonObject, path: string): string | undefined {
  for (const [key, value] of Object.entries(json)) {
    try {
      fromJson(message, { [key]: value }, strict);
    } catch {
      const at = path === "" ? key : `${path}.${key}`;
      const field = fieldByName(message, key);
      if (field?.fieldKind === "message" && !isWkt(field.message) && isObject(value)) return locate(field.message, value, at) ?? at;
      return at;
    }
  }
  return undefined;
}
