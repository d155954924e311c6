import type { IssuedSession as IssuedSessionMessage, SessionInfo as SessionInfoMessage, TokenExchangeResult } from "../../gen/nexus/common/v1/session_pb.ts";
import { allowedHostsOf } from "./allowed-hosts.ts";
import { type Credential, toCredential } from "./credential.ts";

/** Input of `NexusClient.createSession`: what the new session grants. */
export interface CreateSessionInput {
  /** The connection the session is for. */
  readonly connectionId: string;
  /** The registered agent that will hold the session (it alone can exchange its token). */
  readonly agentId: string;
  /** The clearance: a subset of the connection's scopes (or of the parent session's). @default all of them */
  readonly scopes?: readonly string[];
  /** Lifetime, at most the Broker's SESSION_MAX_TTL_SECONDS and never past the parent's expiry. @default one hour, or the parent's rest */
  readonly ttlSeconds?: number;
  /** Hosts the credential may be sent to: exact names or `*.example.com`. @default no limit of its own (a parent's still applies) */
  readonly allowedHosts?: readonly string[];
  /** The session this one is delegated from. @default the caller's live session for the connection, or none when the caller owns it */
  readonly parentSessionId?: string;
}

/** A session as it was created: the only time its token is shown. */
export interface IssuedSession {
  readonly sessionId: string;
  /** A JWT (`typ: nexus-session+jwt`); hand it to the agent the session is for, never log it. */
  readonly sessionToken: string;
  readonly scopes: readonly string[];
  /** Unix seconds. */
  readonly expiresAt: number;
  /** Empty: no host limit. */
  readonly allowedHosts: readonly string[];
  /** Absent for a root session. */
  readonly parentSessionId?: string;
}

/** A session as it is now (never its token). */
export interface SessionInfo {
  readonly sessionId: string;
  readonly connectionId: string;
  /** The agent holding it. */
  readonly agentId: string;
  /** The workspace (the connection's user). */
  readonly workspaceId: string;
  readonly scopes: readonly string[];
  readonly allowedHosts: readonly string[];
  /** Unix seconds. */
  readonly expiresAt: number;
  /** `active`, `expired` or `revoked` (also when a session it was delegated from was revoked). */
  readonly status: string;
  /** Absent for a root session. */
  readonly parentSessionId?: string;
  /** The agent that delegated it; absent when an operator did. */
  readonly delegatedByAgentId?: string;
}

/** Options of `NexusClient.exchange`. */
export interface ExchangeOptions {
  /** Ask for fewer scopes than the session's clearance. @default the whole clearance */
  readonly scopes?: readonly string[];
  /** The provider's name; when given the Gateway checks it is the session's provider (`invalid_target` otherwise). */
  readonly resource?: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** What an exchange returns: the RFC 8693 answer, and the credential ready for `applyCredential`. */
export interface ExchangedCredential {
  /** The provider credential's main secret (for OAuth 2.0 the access token). */
  readonly accessToken: string;
  /** `Bearer`, or `N_A` for static credentials. */
  readonly tokenType: string;
  /** Seconds until it expires; never past the session's own expiry. */
  readonly expiresIn: number;
  /** The scopes it carries. */
  readonly scopes: readonly string[];
  /** The credential with its strategy; `strategy.config.allowed_hosts` holds the session's hosts, if any. */
  readonly credential: Credential;
  /** Hosts the credential may be sent to; empty: any. */
  readonly allowedHosts: readonly string[];
}

/** Converts the generated IssuedSession message. */
export function toIssuedSession(m: IssuedSessionMessage | undefined): IssuedSession {
  return {
    sessionId: m?.sessionId ?? "", sessionToken: m?.sessionToken ?? "", scopes: [...(m?.scopes ?? [])],
    expiresAt: m?.expiresAt ?? 0, allowedHosts: [...(m?.allowedHosts ?? [])],
    ...(m?.parentSessionId ? { parentSessionId: m.parentSessionId } : {}),
  };
}

/** Converts the generated SessionInfo message. */
export function toSessionInfo(m: SessionInfoMessage | undefined): SessionInfo {
  return {
    sessionId: m?.sessionId ?? "", connectionId: m?.connectionId ?? "", agentId: m?.agentId ?? "", workspaceId: m?.workspaceId ?? "",
    scopes: [...(m?.scopes ?? [])], allowedHosts: [...(m?.allowedHosts ?? [])], expiresAt: m?.expiresAt ?? 0, status: m?.status ?? "",
    ...(m?.parentSessionId ? { parentSessionId: m.parentSessionId } : {}),
    ...(m?.delegatedByAgentId ? { delegatedByAgentId: m.delegatedByAgentId } : {}),
  };
}

/** Converts the generated TokenExchangeResult message. */
export function toExchangedCredential(m: TokenExchangeResult | undefined): ExchangedCredential {
  const credential = toCredential(m?.credential);
  return {
    accessToken: m?.accessToken ?? "", tokenType: m?.tokenType ?? "", expiresIn: m?.expiresIn ?? 0,
    scopes: (m?.scope ?? "").split(" ").filter((s) => s !== ""), credential, allowedHosts: allowedHostsOf(credential),
  };
}
