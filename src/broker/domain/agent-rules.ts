/**
 * What a valid agent registration looks like: one definition used by the
 * agent service (create and update) and by its tests. Pure, no I/O.
 */
import { invalidArgument } from "../../shared/errors.ts";
import { inputLimits, isName } from "../../shared/input-rules.ts";
import type { JsonObject } from "./provider.ts";

import { assertionAlgorithms } from "../../shared/assertion-algorithms.ts";

export { assertionAlgorithms };

const maxKeys = inputLimits.jwksKeys;
const maxJwksBytes = inputLimits.jwksBytes;
/** JWK members that only private or symmetric keys have. */
const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const keyTypes = new Set(["RSA", "EC", "OKP"]);

/** An agent's name: lowercase kebab-case, like provider names. */
export function parseAgentName(name: string, field = "agent.name"): string {
  const trimmed = name.trim();
  if (trimmed === "") throw invalidArgument(field, "is required");
  if (!isName(trimmed)) {
    throw invalidArgument(field, `must be lowercase kebab-case (letters, digits and single dashes), at most ${inputLimits.nameLength} characters`);
  }
  return trimmed;
}

/** Provider names an agent may connect to: unique, each a valid provider name; empty means all. */
export function parseAllowedProviders(names: readonly string[], field = "agent.allowed_providers"): string[] {
  if (names.length > inputLimits.allowedProviders) throw invalidArgument(field, `lists more than ${inputLimits.allowedProviders} providers`);
  const out: string[] = [];
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (!isName(name)) throw invalidArgument(field, `"${raw.slice(0, inputLimits.nameLength)}" is not a provider name`);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/**
 * A JWK Set of public signing keys: at most 10, each of kty RSA, EC or OKP,
 * with a unique `kid` (an assertion names the key it was signed with, and an
 * unknown kid is refused), no private or symmetric members (a private key
 * sent here by mistake is refused, never stored), and an `alg`, when given,
 * from the asymmetric list. Null for an empty or absent set.
 */
export function parseJwks(value: JsonObject | null | undefined, field = "agent.jwks"): JsonObject | null {
  if (value === null || value === undefined || Object.keys(value).length === 0) return null;
  if (JSON.stringify(value).length > maxJwksBytes) throw invalidArgument(field, "is larger than 32 KB");
  const extra = Object.keys(value).filter((k) => k !== "keys");
  if (extra.length > 0) throw invalidArgument(field, `has unknown member "${extra[0]}"; a JWK Set has only "keys"`);
  const keys = value.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw invalidArgument(`${field}.keys`, "must be a non-empty array of public JWKs");
  if (keys.length > maxKeys) throw invalidArgument(`${field}.keys`, `holds more than ${maxKeys} keys`);
  const kids = new Set<string>();
  keys.forEach((key, i) => {
    const at = `${field}.keys[${i}]`;
    if (key === null || typeof key !== "object" || Array.isArray(key)) throw invalidArgument(at, "must be a JWK object");
    const jwk = key as JsonObject;
    if (typeof jwk.kty !== "string" || !keyTypes.has(jwk.kty)) throw invalidArgument(`${at}.kty`, "must be RSA, EC or OKP (asymmetric keys only)");
    const secret = privateMembers.find((m) => m in jwk);
    if (secret !== undefined) throw invalidArgument(at, `holds private key material ("${secret}"); register the public key only`);
    if (typeof jwk.kid !== "string" || jwk.kid === "" || jwk.kid.length > inputLimits.kidLength) {
      throw invalidArgument(`${at}.kid`, `is required (at most ${inputLimits.kidLength} characters): assertions name their key by kid`);
    }
    if (kids.has(jwk.kid)) throw invalidArgument(`${at}.kid`, `"${jwk.kid}" is used twice`);
    kids.add(jwk.kid);
    if (jwk.alg !== undefined && !(assertionAlgorithms as readonly unknown[]).includes(jwk.alg)) {
      throw invalidArgument(`${at}.alg`, `must be one of ${assertionAlgorithms.join(", ")}`);
    }
    if (jwk.use !== undefined && jwk.use !== "sig") throw invalidArgument(`${at}.use`, 'must be "sig"');
  });
  return value;
}

/** An agent's description: at most 2,000 characters. */
export function parseAgentDescription(text: string, field = "agent.description"): string {
  if (text.length > inputLimits.descriptionLength) throw invalidArgument(field, `is longer than ${inputLimits.descriptionLength} characters`);
  return text;
}
