/**
 * Every input rule of Nexus, defined once: the limits, the patterns, and the
 * functions that apply them. Gateway and Broker enforce the rules a request
 * field names in the contract (`(nexus.common.v1.input_rule)`, see
 * `input-rule-check.ts`) with these functions, Broker services and domain
 * call the same ones, and the agent client and the CLI read the limits from
 * here. `test/architecture.test.ts` fails when a limit or pattern below is
 * written anywhere else in src/.
 *
 * Every function refuses with a NexusError naming the field (reported in a
 * google.rpc.BadRequest detail), and returns the value as Nexus reads it
 * (trimmed, lowercased, duplicates dropped, as each rule says). Messages echo
 * at most a short, cut piece of what was sent.
 */
import { invalidArgument, NexusError } from "./errors.ts";

/** Every numeric limit on input. */
export const inputLimits = {
  /** A workspace id (`user_id`), in characters. */
  workspaceIdLength: 256,
  /** A provider or agent name or alias, in characters. */
  nameLength: 64,
  /** One OAuth scope, in characters. */
  scopeLength: 256,
  /** Scopes in one request or clearance. */
  scopes: 64,
  /** A return URL, in characters. */
  returnUrlLength: 2048,
  /** A handshake state, in characters. */
  stateLength: 1024,
  /** Fields of a captured credential (and properties of a credential schema). */
  credentialFields: 20,
  /** One captured credential value, in characters. */
  credentialValueLength: 8192,
  /** A credential schema's `pattern`, in characters: matching time grows with pattern size times value length. */
  credentialPatternLength: 512,
  /** List RPCs: the page size when none is asked for, and the largest. */
  pageSize: { default: 50, max: 500 },
  /** The audit log's page size: the default and the largest. */
  auditPageSize: { default: 50, max: 1000 },
  /** Hosts a session's credential may be sent to. */
  allowedHosts: 50,
  /** One host name, in characters (RFC 1035). */
  hostLength: 253,
  /** Aliases of one provider. */
  aliases: 10,
  /** Values given for a provider template's placeholders, and one value's length in characters (a host label or a tenant id, never a URL). */
  templateValues: 10,
  templateValueLength: 128,
  /** Providers an agent may be limited to. */
  allowedProviders: 200,
  /** Descriptions of providers and agents, in characters. */
  descriptionLength: 2000,
  /** A provider's category, in characters. */
  categoryLength: 100,
  /** An OAuth client id, in characters. */
  clientIdLength: 512,
  /** An OAuth client secret, in characters. */
  clientSecretLength: 2048,
  /** Secrets fingerprinted in one call (`nexus plan` compares client secrets by fingerprint). */
  fingerprintSecrets: 100,
  /** Keys in an agent's JWK Set, and its size in bytes of JSON. */
  jwksKeys: 10,
  jwksBytes: 32 * 1024,
  /** A JWK's `kid`, in characters. */
  kidLength: 128,
  /** An agent credential (API key or signed assertion) the Gateway forwards, in characters. */
  agentCredentialLength: 4096,
  /** An agent assertion's `jti`, in characters. */
  assertionJtiLength: 256,
} as const;

/** Every pattern on input. */
export const inputPatterns = {
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  /** Provider and agent names and aliases: lowercase kebab-case. */
  name: /^[a-z0-9]+(-[a-z0-9]+)*$/,
  /** RFC 6749 scope-token: printable ASCII except space, `"` and `\`. */
  scope: /^[\x21\x23-\x5B\x5D-\x7E]+$/,
  /** A provider template's placeholder name, written `{name}` in its URLs. */
  placeholder: /^[a-z][a-z_]{0,31}$/,
  /** Captured credential field names: safe as form field names, HTML ids and log keys. */
  credentialField: /^[a-z][a-z0-9_]{0,63}$/,
  /** A host name, or `*.` and a domain. */
  hostPattern: /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
  /** A compact JWS; the signature may be empty (an unsigned JWT is refused later, for what it is). */
  compactJws: /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/,
  /** C0 controls and DEL: never in names, ids, URLs or credentials. */
  controlCharacter: /[\u0000-\u001f\u007f]/u,
} as const;

/** A UUID in canonical lowercase form. */
export function parseUuid(value: string, field: string): string {
  const v = value.trim().toLowerCase();
  if (v === "") throw invalidArgument(field, "is required");
  if (!inputPatterns.uuid.test(v)) throw invalidArgument(field, "must be a UUID such as 2f1c3a5e-8b7d-4c1e-9a6f-0d2b4e6f8a1c");
  return v;
}

/** A workspace id: 1 to 256 characters, no control characters. */
export function parseWorkspaceId(value: string, field = "workspace_id"): string {
  if (value.length === 0) throw invalidArgument(field, "is required");
  if (value.length > inputLimits.workspaceIdLength) throw invalidArgument(field, `must be at most ${inputLimits.workspaceIdLength} characters`);
  if (hasControlCharacters(value)) throw invalidArgument(field, "must not contain control characters");
  return value;
}

/** Whether `value` is a name as providers, aliases and agents have: lowercase kebab-case, at most 64 characters. */
export function isName(value: string): boolean {
  return value.length <= inputLimits.nameLength && inputPatterns.name.test(value);
}

/** A provider name or alias to look up: read trimmed and in lowercase. */
export function parseProviderName(value: string, field = "provider_name"): string {
  const v = value.trim().toLowerCase();
  if (v === "") throw invalidArgument(field, "is required");
  if (!isName(v)) throw invalidArgument(field, "must be a provider name: lowercase letters, digits and single hyphens, at most 64 characters");
  return v;
}

/** Scopes: each an RFC 6749 scope token of at most 256 characters, at most 64 of them, duplicates dropped. */
export function parseScopes(scopes: readonly string[], field = "scopes"): string[] {
  if (scopes.length > inputLimits.scopes) throw invalidArgument(field, `has more than ${inputLimits.scopes} scopes`);
  for (const s of scopes) {
    if (s.length > inputLimits.scopeLength || !inputPatterns.scope.test(s)) {
      throw invalidArgument(field, `"${s.slice(0, 40)}" is not a valid scope (1 to ${inputLimits.scopeLength} printable characters, no spaces or quotes)`);
    }
  }
  return [...new Set(scopes)];
}

/** Tells whether a value has control characters (never allowed in names, ids and credentials). */
export function hasControlCharacters(value: string): boolean {
  return inputPatterns.controlCharacter.test(value);
}

/** The length of a string in code points, as JSON Schema's minLength and maxLength count. */
export function codePoints(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

/**
 * The shape of a return URL, before the Broker checks its host against
 * ALLOWED_RETURN_DOMAINS: an absolute `https` URL (`http` only on a loopback
 * host), at most 2048 characters, no user name or password. Checked on the
 * raw string first: the WHATWG parser silently drops tabs and newlines and
 * reads `\` as `/` in special URLs, which is how `/\evil`, `/\t/evil` and
 * `host\t.evil` slip past prefix checks.
 *
 * @throws NexusError `return_url_rejected`; the message echoes at most the host.
 */
export function parseReturnUrl(raw: string, field = "return_url"): URL {
  const reject = (problem: string): never => {
    throw new NexusError("return_url_rejected", `${field} ${problem}`, { field, description: problem });
  };
  if (raw === "") reject("is empty");
  if (raw.length > inputLimits.returnUrlLength) reject(`is longer than ${inputLimits.returnUrlLength} characters`);
  if (raw.includes("\\")) reject("must not contain a backslash");
  if (hasControlCharacters(raw) || /\s/u.test(raw)) reject("must not contain control characters or whitespace");
  if (raw.startsWith("/")) reject("must be an absolute URL, not a path or a scheme-relative URL");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return reject("must be an absolute URL");
  }
  const host = url.hostname.toLowerCase();
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopbackHosts.has(host))) reject("must use https (http only for localhost)");
  if (url.username !== "" || url.password !== "") reject("must not contain a user name or password");
  if (host === "") reject("has no host");
  return url;
}

/** Hosts where plain http is tolerated, for local development. */
const loopbackHosts: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Whether `value` is a compact JWS with a signature. */
export function isSignedJws(value: string): boolean {
  return inputPatterns.compactJws.test(value) && !value.endsWith(".");
}

/** Whether a handshake state can be one Nexus issued: a signed compact JWS of at most 1024 characters. */
export function isStateShaped(value: string): boolean {
  return value.length <= inputLimits.stateLength && isSignedJws(value);
}

/** The refusal of a state that is absent, or that Nexus cannot have issued. */
export function stateRefusal(reason: "state_missing" | "state_invalid", field = "state"): NexusError {
  return reason === "state_missing"
    ? new NexusError("state_missing", "the state parameter is missing", { field })
    : new NexusError("state_invalid", "the state is not one Nexus issued, or it was altered", { field });
}

/** A handshake state, checked for its shape only (its signature and handshake are the Broker's to check). */
export function parseState(value: string, field = "state"): string {
  if (value === "") throw stateRefusal("state_missing", field);
  if (!isStateShaped(value)) throw stateRefusal("state_invalid", field);
  return value;
}

/** The refusal of one captured credential field; the message never holds its value. */
export function credentialRefusal(name: string, problem: string, field = "credentials"): NexusError {
  return new NexusError("credential_invalid", `${name} ${problem}`, { field: `${field}.${name}`, description: problem });
}

/**
 * Captured credential fields, before the provider's schema is applied (which
 * says which fields are required): at most 20, named like `api_key`, each
 * value at most 8192 code points with no control characters.
 */
export function parseCredentialFields(values: Readonly<Record<string, string>>, field = "credentials"): Record<string, string> {
  const names = Object.keys(values);
  const refuse = (problem: string) => new NexusError("credential_invalid", `${field} ${problem}`, { field, description: problem });
  if (names.length > inputLimits.credentialFields) throw refuse(`may hold at most ${inputLimits.credentialFields} fields`);
  // A name that breaks the pattern is not echoed: it is user input.
  if (!names.every((name) => inputPatterns.credentialField.test(name))) throw refuse("hold a field this provider does not define");
  for (const name of names) {
    const value = values[name]!;
    if (hasControlCharacters(value)) throw credentialRefusal(name, "must not contain control characters or line breaks", field);
    if (codePoints(value) > inputLimits.credentialValueLength) throw credentialRefusal(name, `must be at most ${inputLimits.credentialValueLength} characters`, field);
  }
  return { ...values };
}

/** A page size: 0 means the default; otherwise a whole number from 1 to the maximum. */
export function parsePageSize(value: number, field = "page_size", bounds: { readonly default: number; readonly max: number } = inputLimits.pageSize): number {
  if (value === 0) return bounds.default;
  if (!Number.isInteger(value) || value < 1 || value > bounds.max) throw invalidArgument(field, `must be from 1 to ${bounds.max}`);
  return value;
}

/** Host names a credential may be sent to: lowercase, unique, each a name or `*.domain` (a real subdomain of it). */
export function parseAllowedHosts(hosts: readonly string[], field = "allowed_hosts"): string[] {
  if (hosts.length > inputLimits.allowedHosts) throw invalidArgument(field, `lists more than ${inputLimits.allowedHosts} hosts`);
  const out: string[] = [];
  for (const raw of hosts) {
    const host = raw.trim().toLowerCase().replace(/\.$/, "");
    if (host.length > inputLimits.hostLength || !inputPatterns.hostPattern.test(host)) {
      throw invalidArgument(field, `"${raw.slice(0, 80)}" is not a host name or *.domain pattern`);
    }
    if (!out.includes(host)) out.push(host);
  }
  return out;
}
