import { invalidArgument } from "../../shared/errors.ts";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// RFC 6749 scope-token: printable ASCII except space, `"` and `\`.
const scopePattern = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/;
// eslint-disable-next-line no-control-regex
const controlChars = /[\u0000-\u001f\u007f]/;

/** A UUID in canonical lowercase form, or invalid_argument naming the field. */
export function parseUuid(value: string, field: string): string {
  const v = value.trim().toLowerCase();
  if (v === "") throw invalidArgument(field, "is required");
  if (!uuidPattern.test(v)) throw invalidArgument(field, "must be a UUID such as 2f1c3a5e-8b7d-4c1e-9a6f-0d2b4e6f8a1c");
  return v;
}

/** A workspace id: 1 to 256 characters, no control characters. */
export function parseWorkspaceId(value: string, field = "workspace_id"): string {
  if (value.length === 0) throw invalidArgument(field, "is required");
  if (value.length > 256) throw invalidArgument(field, "must be at most 256 characters");
  if (controlChars.test(value)) throw invalidArgument(field, "must not contain control characters");
  return value;
}

/** Scopes: each an RFC 6749 scope token, at most 64, duplicates dropped. */
export function parseScopes(scopes: readonly string[], field = "scopes"): string[] {
  if (scopes.length > 64) throw invalidArgument(field, "has more than 64 scopes");
  for (const s of scopes) {
    if (!scopePattern.test(s)) throw invalidArgument(field, `"${s.slice(0, 40)}" is not a valid scope (1 to 256 printable characters, no spaces or quotes)`);
  }
  return [...new Set(scopes)];
}

/** A provider name or alias to look up: lowercase kebab-case, at most 64 characters. */
export function parseProviderName(value: string, field = "provider_name"): string {
  const v = value.trim().toLowerCase();
  if (v === "") throw invalidArgument(field, "is required");
  if (v.length > 64 || !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(v)) {
    throw invalidArgument(field, "must be a provider name: lowercase letters, digits and single hyphens");
  }
  return v;
}

/** Tells whether a value has control characters (never allowed in names, ids and credentials). */
export function hasControlCharacters(value: string): boolean {
  return controlChars.test(value);
}
