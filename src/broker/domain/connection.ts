/**
 * Connections, their credentials and handshakes in flight. Pure types and
 * rules, no I/O.
 */

/** Where a connection is in its life. */
export const connectionStatuses = ["pending", "active", "failed", "attention_required", "revoked"] as const;
export type ConnectionStatus = (typeof connectionStatuses)[number];

/** A connection as stored (never its secrets). */
export interface Connection {
  readonly id: string;
  readonly workspaceId: string;
  readonly providerId: string;
  readonly status: ConnectionStatus;
  /** Why it is failed or needs attention, as a reason code. */
  readonly statusReason: string;
  readonly scopes: readonly string[];
  readonly grantedScopes: readonly string[];
  readonly returnUrl: string;
  readonly createdBy: string;
  /** The registered agent that started it, which alone may use it; null for operators and unscoped keys. */
  readonly agentId: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** While pending: when the handshake lapses. */
  readonly pendingUntil: Date | null;
  readonly version: bigint;
}

/** The sealed credential of a connection. */
export interface CredentialRecord {
  readonly connectionId: string;
  readonly keyId: string;
  /** Sealed JSON object of the agent-facing fields. */
  readonly secretCt: string;
  /** Sealed refresh token; null when the provider gave none (or for static credentials). */
  readonly refreshCt: string | null;
  /** When the access token expires; null when it does not. */
  readonly expiresAt: Date | null;
  /** Bumped by every write; writes compare it first. */
  readonly version: bigint;
  readonly refreshedAt: Date | null;
  readonly refreshDueAt: Date | null;
  /** Which Broker holds the refresh lease, which claim it is, and until when. */
  readonly leaseOwner: string | null;
  readonly leaseId: string | null;
  readonly leaseUntil: Date | null;
  /** Set while a refresh may have presented the refresh token and its outcome is not yet written. */
  readonly rotationStartedAt: Date | null;
  /** The claim whose write stored the current tokens. */
  readonly writtenByLease: string | null;
  readonly failureCount: number;
  readonly failingSince: Date | null;
  readonly nextAttemptAt: Date | null;
  readonly lastError: string;
}

/** The kinds of handshake: an OAuth consent, or a page that captures a static credential. */
export type HandshakeKind = "oauth2" | "capture";

/** A handshake in flight. Consumed (deleted) by the first callback or capture that presents its state. */
export interface Handshake {
  readonly id: string;
  readonly connectionId: string;
  readonly providerId: string;
  readonly kind: HandshakeKind;
  readonly keyId: string | null;
  /** Sealed PKCE code verifier; null when PKCE is off or for captures. */
  readonly verifierCt: string | null;
  /** OIDC nonce sent; empty when none. */
  readonly nonce: string;
  /** The issuer the request went to, for RFC 9207; empty when unknown. */
  readonly issuer: string;
  /** The provider says it always sends `iss` (RFC 9207), so a missing one is an attack. */
  readonly issRequired: boolean;
  readonly redirectUri: string;
  readonly returnUrl: string;
  readonly expiresAt: Date;
  /** Computed by the database clock when read. */
  readonly expired: boolean;
}

/** How long a handshake (and its state) lives. */
export const handshakeLifetimeSeconds = 600;

/**
 * When a token should be refreshed: `expires_at` minus the smaller of the
 * margin and a third of its lifetime, so a 30-second token refreshes at 20 s.
 */
export function refreshDueAt(receivedAt: Date, expiresAt: Date, marginSeconds: number): Date {
  const lifetime = (expiresAt.getTime() - receivedAt.getTime()) / 1000;
  const lead = Math.min(marginSeconds, Math.max(0, lifetime) / 3);
  return new Date(expiresAt.getTime() - lead * 1000);
}
