import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import schema from "../../../schemas/manifest.v1.schema.json" with { type: "json" };
import type { ManifestProblem } from "./manifest-error.ts";
import { fromJsonPointer, jsonPath, type SourceMap } from "./source-map.ts";

let compiled: ValidateFunction | undefined;

/** The published JSON Schema, compiled once; strict, so a mistake in the schema itself fails loudly. */
function validator(): ValidateFunction {
  compiled ??= new Ajv2020({ allErrors: true, strict: true, verbose: true }).compile(schema);
  return compiled;
}

/**
 * Checks `data` against schemas/manifest.v1.schema.json and returns every
 * problem, each located and said in words (not ajv's "must match pattern").
 */
export function checkSchema(data: unknown, source: SourceMap): ManifestProblem[] {
  const validate = validator();
  if (validate(data)) return [];
  const errors = validate.errors ?? [];
  // A oneOf or anyOf failure also reports each branch's failure; only the oneOf (anyOf) says what was meant.
  const alternatives = (e: ErrorObject) => e.keyword === "oneOf" || e.keyword === "anyOf";
  const oneOfs = errors.filter(alternatives).map((e) => e.instancePath);
  const kept = errors.filter((e) => alternatives(e) || !oneOfs.some((p) => e.instancePath === p || e.instancePath.startsWith(`${p}/`)));
  return kept.map((e) => {
    const path = fromJsonPointer(e.instancePath);
    const key = e.keyword === "additionalProperties" ? String(e.params.additionalProperty) : undefined;
    const { line, col } = source.at(path, key);
    return { line, col, path: jsonPath(key === undefined ? path : [...path, key]), message: describeError(e, path) };
  });
}

function describeError(e: ErrorObject, path: readonly (string | number)[]): string {
  const parent = e.parentSchema as { properties?: Record<string, unknown> } | undefined;
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(e.params.additionalProperty);
      const allowed = Object.keys(parent?.properties ?? {});
      const hint = path[0] === "agents" && /key/.test(key)
        ? " (an agent's API key is never in a manifest: apply prints a new agent's key once)"
        : allowed.length > 0 ? ` (expected one of: ${allowed.join(", ")})` : "";
      return `unknown key "${key}"${hint}`;
    }
    case "required":
      return `missing required key "${String(e.params.missingProperty)}"`;
    case "type":
      return `must be ${article(String(e.params.type))} ${String(e.params.type)}`;
    case "enum":
      return `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
    case "const":
      return path.length === 1 && path[0] === "version" ? "must be 1, the only manifest version" : `must be ${JSON.stringify(e.params.allowedValue)}`;
    case "maxLength":
      return `must be at most ${String(e.params.limit)} characters`;
    case "pattern":
      if (e.schemaPath.includes("/secretReference/")) {
        return "must be a secret reference, ${env:NAME} or ${file:PATH}: a manifest never holds a secret itself";
      }
      if (e.schemaPath.includes("/name/")) return "must be lowercase kebab-case (letters, digits and single hyphens), such as github-enterprise";
      return `must match ${String(e.params.pattern)}`;
    case "anyOf":
      return 'needs auth_type, or a template that sets it (see GET /provider-templates)';
    case "oneOf":
      return path.at(-1) === "jwks"
        ? 'must be a JWK Set ({"keys": [...]}, with nothing else) or a ${file:PATH} reference to one'
        : "must match exactly one of the allowed forms";
    default:
      return e.message ?? `fails ${e.keyword}`;
  }
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? "an" : "a";
}
