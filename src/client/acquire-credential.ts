import type { NexusClient } from "./create-nexus-client.ts";
import type { Credential } from "./credential.ts";
import { NexusClientError, toNexusClientError } from "./nexus-client-error.ts";

/** What {@linkcode acquireCredential} is asked for. */
export interface AcquireCredentialOptions {
  /** The credential being replaced; the new one must expire later. */
  readonly previous?: Credential;
  /** The provider refused the current credential: have Nexus refresh it now. */
  readonly force?: boolean;
  readonly signal: AbortSignal;
}

/**
 * The credential to open a long-lived connection (a WebSocket, a gRPC stream)
 * with. A forced acquisition calls RefreshToken; a rotation asks GetToken and,
 * when Nexus still hands out the credential being rotated away, RefreshToken.
 * A credential that cannot be refreshed (`not_refreshable`, a static key) is
 * used as GetToken gives it.
 */
export async function acquireCredential(
  client: Pick<NexusClient, "getToken" | "refresh">,
  connectionId: string,
  options: AcquireCredentialOptions,
): Promise<Credential> {
  const { previous, signal } = options;
  if (options.force === true) return refreshOr(client, connectionId, signal, () => client.getToken(connectionId, { signal }));
  const fresh = await client.getToken(connectionId, { signal });
  if (previous?.expiresAt === undefined || fresh.expiresAt === undefined || fresh.expiresAt > previous.expiresAt) return fresh;
  return refreshOr(client, connectionId, signal, () => fresh);
}

async function refreshOr(
  client: Pick<NexusClient, "refresh">,
  connectionId: string,
  signal: AbortSignal,
  fallback: () => Credential | Promise<Credential>,
): Promise<Credential> {
  try {
    return await client.refresh(connectionId, { signal });
  } catch (error) {
    if (toNexusClientError(error).reason === "not_refreshable") return fallback();
    throw error;
  }
}

const transientReasons = new Set(["connection_pending"]);
const permanentCodes = new Set(["invalid_argument", "not_found", "failed_precondition", "unauthenticated", "permission_denied", "unimplemented"]);
// resource_exhausted may be a rate limit worth waiting out, but never when the request itself is too large.
const permanentReasons = new Set(["payload_too_large", "header_too_large"]);

/**
 * Whether a failure to acquire or apply a credential is one no retry can fix
 * (attention_required, connection_revoked, a strategy that cannot be applied,
 * ...), so a loop keeping a connection open must end on it. Everything else
 * (network, Gateway, Broker, provider) is waited out.
 */
export function isPermanentFailure(error: unknown): boolean {
  if (!(error instanceof NexusClientError)) return false;
  if (permanentReasons.has(error.reason)) return true;
  return !error.retryable && permanentCodes.has(error.code) && !transientReasons.has(error.reason);
}
