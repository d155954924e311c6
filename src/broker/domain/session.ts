/**
 * Sessions and their clearance: what a session is, and the rules that keep a
 * child inside its parent and an exchange inside its session. Pure, no I/O.
 */
import { NexusError } from "../../shared/errors.ts";
import { inputLimits } from "../../shared/input-rules.ts";

/** A session as stored. Never its token: tokens are signed on creation and not kept. */
export interface Session {
  readonly id: string;
  readonly connectionId: string;
  readonly workspaceId: string;
  /** The agent holding it. */
  readonly agentId: string;
  /** The agent that delegated it; null when an operator or an unscoped key did. */
  readonly delegatedByAgent: string | null;
  readonly delegatedBy: string;
  readonly parentId: string | null;
  readonly scopes: readonly string[];
  /** Empty: no host limit. */
  readonly allowedHosts: readonly string[];
  /** The `act` claim: `{ sub: holder, act?: <delegator's act> }`. */
  readonly act: ActClaim;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly revokedAt: Date | null;
}

/** RFC 8693 section 4.1 actor claim, nested down the delegation chain. */
export interface ActClaim {
  readonly sub: string;
  readonly act?: ActClaim;
}

/** The agent ids of a chain, holder first. */
export function chainOf(act: ActClaim): string[] {
  const out: string[] = [];
  for (let a: ActClaim | undefined = act; a !== undefined && out.length < 32; a = a.act) out.push(a.sub);
  return out;
}

/** A session's state now: revoked (itself or any ancestor), expired, or active. */
export function sessionStatus(chain: readonly Session[], now: number): "active" | "expired" | "revoked" {
  if (chain.some((s) => s.revokedAt !== null)) return "revoked";
  if (chain.some((s) => s.expiresAt.getTime() <= now)) return "expired";
  return "active";
}

/** Whether `host` is covered by `pattern` (an exact name, or `*.suffix` for any real subdomain). */
export function hostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith("*.")) return pattern === host;
  const suffix = pattern.slice(1);
  return host.endsWith(suffix) && host.length > suffix.length && !host.slice(0, -suffix.length).endsWith(".");
}

/**
 * The hosts of a child: what it asks for, each covered by one of its parent's
 * patterns; a parent's limit is inherited when the child names none.
 */
export function childHosts(requested: readonly string[], parent: readonly string[]): string[] {
  if (parent.length === 0) return [...requested];
  if (requested.length === 0) return [...parent];
  for (const host of requested) {
    if (!parent.some((p) => hostCovers(p, host))) {
      throw new NexusError("invalid_scope", `allowed host "${host}" is outside the parent session's hosts`, { field: "allowed_hosts" });
    }
  }
  return [...requested];
}

/** Whether every host `inner` (a name or a pattern) allows, `outer` allows too. */
function hostCovers(outer: string, inner: string): boolean {
  if (outer === inner) return true;
  if (!outer.startsWith("*.")) return false;
  const suffix = outer.slice(2);
  // "*.example.com" covers "api.example.com" and "*.eu.example.com", never "*.example.com" from a narrower parent.
  const innerBase = inner.startsWith("*.") ? inner.slice(2) : inner;
  return innerBase.endsWith(`.${suffix}`) || (inner.startsWith("*.") && innerBase === suffix);
}

/**
 * The scopes a new session gets: what it asks for (all of `ceiling` when it
 * asks for none), each within `ceiling`. Scope names compare exactly.
 */
export function clearanceWithin(requested: readonly string[], ceiling: readonly string[], what: string): string[] {
  if (requested.length === 0) return [...ceiling];
  const outside = [...new Set(requested.filter((s) => !ceiling.includes(s)))];
  if (outside.length > 0) {
    // Named, but cut short: a caller who pasted a token into `scope` must not get it back in an error (or a log).
    const named = outside.slice(0, 5).map((s) => `"${s.length > 64 ? `${s.slice(0, 64)}…` : s}"`).join(", ");
    throw new NexusError("invalid_scope", `scope ${named}${outside.length > 5 ? ` and ${outside.length - 5} more` : ""} ${outside.length === 1 ? "is" : "are"} outside ${what}`, { field: "scopes" });
  }
  return [...new Set(requested)];
}

/** The scopes an exchange asks for (space-separated; empty: the whole clearance), each within the session's clearance. */
export function exchangeScopes(scope: string, clearance: readonly string[]): string[] {
  const requested = scope.split(" ").filter((s) => s !== "");
  if (requested.length > inputLimits.scopes) throw new NexusError("invalid_scope", `asks for more than ${inputLimits.scopes} scopes`, { field: "scope" });
  return clearanceWithin(requested, clearance, "the session's clearance");
}
