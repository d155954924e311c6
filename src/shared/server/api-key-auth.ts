import type { Interceptor } from "@connectrpc/connect";
import { NexusError } from "../errors.ts";
import { kCaller } from "../request-context.ts";

/** Options of {@linkcode createApiKeyAuth}. */
export interface ApiKeyAuthOptions {
  /** The accepted keys. Only their SHA-256 digests are kept. */
  keys: readonly string[];
  /** Prefix of the caller identity, e.g. `agent` gives `agent:1a2b3c4d`. */
  role: string;
  /** Procedures (`/pkg.Service/Method`) or whole services (`/pkg.Service/`) anyone may call. */
  publicProcedures: readonly string[];
}

/** Longest key we bother hashing; anything longer is wrong anyway. */
const maxKeyLength = 512;

/** Checks presented API keys against the configured ones. */
export interface ApiKeyVerifier {
  /** The caller identity (`<role>:<8 hex digits>`) of an accepted key; undefined for any other. */
  verify(presented: string): Promise<string | undefined>;
}

/**
 * Compares presented keys with the configured ones as SHA-256 digests in
 * constant time, so neither the length nor the content of a guess changes how
 * long the check takes. The identity is the role and the first 8 hex digits of
 * the key's digest, never the key.
 */
export async function createApiKeyVerifier(options: { keys: readonly string[]; role: string }): Promise<ApiKeyVerifier> {
  const digests = await Promise.all(options.keys.map((k) => sha256(k)));
  const identities = digests.map((d) => `${options.role}:${hex(d).slice(0, 8)}`);
  // Keys that already passed the digest check, so a busy agent does not pay for a
  // WebCrypto job on every call. Only exact accepted keys get in (at most one entry
  // per configured key); a guess is never stored, so it always takes the digest path.
  const accepted = new Map<string, string>();
  return {
    async verify(presented) {
      const known = accepted.get(presented);
      if (known !== undefined) return known;
      const digest = await sha256(presented.length > maxKeyLength ? "" : presented);
      let match = -1;
      for (let i = 0; i < digests.length; i++) {
        // Check every key with no early exit, so timing does not tell which matched.
        if (constantTimeEqual(digest, digests[i]!) && presented.length <= maxKeyLength) match = i;
      }
      if (match < 0) return undefined;
      accepted.set(presented, identities[match]!);
      return identities[match];
    },
  };
}

/**
 * An interceptor that requires an API key on every non-public procedure, in
 * `Authorization: Bearer <key>` or `X-API-Key: <key>`, checked with
 * {@linkcode createApiKeyVerifier}. On success the caller identity is put in
 * the context under {@linkcode kCaller}.
 */
export async function createApiKeyAuth(options: ApiKeyAuthOptions): Promise<Interceptor> {
  const verifier = await createApiKeyVerifier(options);
  const exact = new Set(options.publicProcedures.filter((p) => !p.endsWith("/")));
  const prefixes = options.publicProcedures.filter((p) => p.endsWith("/"));
  const isPublic = (path: string) => exact.has(path) || prefixes.some((p) => path.startsWith(p));

  return (next) => async (request) => {
    const path = `/${request.service.typeName}/${request.method.name}`;
    if (isPublic(path)) return next(request);
    const presented = presentedKey(request.header);
    if (presented === undefined) {
      throw new NexusError("unauthenticated", "missing API key: send Authorization: Bearer <key> or X-API-Key: <key>");
    }
    const identity = await verifier.verify(presented);
    if (identity === undefined) throw new NexusError("unauthenticated", "invalid API key");
    request.contextValues.set(kCaller, identity);
    return next(request);
  };
}

/** Reads the key from `Authorization: Bearer` or `X-API-Key`; undefined when absent or blank. */
export function presentedKey(header: Headers): string | undefined {
  const authorization = header.get("authorization");
  if (authorization !== null) {
    const m = /^bearer\s+(.+)$/i.exec(authorization.trim());
    if (m) return m[1]!.trim();
  }
  const key = header.get("x-api-key")?.trim();
  return key === undefined || key === "" ? undefined : key;
}

/** Compares two equal-length byte arrays without an early exit. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
