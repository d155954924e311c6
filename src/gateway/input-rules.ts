import { invalidArgument } from "../shared/errors.ts";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const namePattern = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const scopePattern = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/;
const fieldPattern = /^[a-z][a-z0-9_]{0,63}$/;
// eslint-disable-next-line no-control-regex
const controlChars = /[\u0000-\u001f\u007f]/;

/**
 * Input checks at the front door: nothing malformed reaches the Broker, and
 * every rejection is invalid_argument naming the field.
 */
export const check = {
  uuid(value: string, field: string): string {
    if (value === "") throw invalidArgument(field, "is required");
    if (!uuidPattern.test(value)) throw invalidArgument(field, "must be a UUID");
    return value.toLowerCase();
  },
  workspace(value: string, field: string): string {
    if (value === "") throw invalidArgument(field, "is required");
    if (value.length > 256) throw invalidArgument(field, "must be at most 256 characters");
    if (controlChars.test(value)) throw invalidArgument(field, "must not contain control characters");
    return value;
  },
  providerName(value: string, field: string): string {
    const v = value.trim().toLowerCase();
    if (v === "") throw invalidArgument(field, "is required");
    if (v.length > 64 || !namePattern.test(v)) throw invalidArgument(field, "must be a provider name: lowercase letters, digits and single hyphens");
    return v;
  },
  scopes(values: readonly string[], field: string): string[] {
    if (values.length > 64) throw invalidArgument(field, "may hold at most 64 scopes");
    for (const s of values) if (!scopePattern.test(s)) throw invalidArgument(field, "each scope must be 1 to 256 printable characters without spaces or quotes");
    return [...values];
  },
  absoluteUrl(value: string, field: string): string {
    if (value === "") throw invalidArgument(field, "is required");
    if (value.length > 2048) throw invalidArgument(field, "must be at most 2048 characters");
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw invalidArgument(field, "must be an absolute URL such as https://app.example.com/oauth/return");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw invalidArgument(field, "must be an http or https URL");
    return value;
  },
  state(value: string, field: string): string {
    if (value === "") throw invalidArgument(field, "is required");
    if (value.length > 2048 || controlChars.test(value)) throw invalidArgument(field, "is not a state Nexus issued");
    return value;
  },
  credentials(values: Readonly<Record<string, string>>, field: string): Record<string, string> {
    const entries = Object.entries(values);
    if (entries.length === 0) throw invalidArgument(field, "is required");
    if (entries.length > 20) throw invalidArgument(field, "may hold at most 20 fields");
    for (const [k, v] of entries) {
      if (!fieldPattern.test(k)) throw invalidArgument(field, "field names must be lowercase letters, digits and underscores");
      if (v.length > 8192) throw invalidArgument(`${field}.${k}`, "must be at most 8192 characters");
    }
    return { ...values };
  },
};
