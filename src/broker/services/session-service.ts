import { SignJWT } from "jose";
import { invalidArgument, NexusError } from "../../shared/errors.ts";
import type { Connection } from "../domain/connection.ts";
import { inputPatterns, parseAllowedHosts, parsePageSize, parseScopes, parseUuid } from "../../shared/input-rules.ts";
import type { AgentStore, AuditLog, ConnectionStore, SessionStore } from "../domain/ports.ts";
import { assertMayUse, type Principal } from "../domain/principal.ts";
import {
  type ActClaim, chainOf, childHosts, clearanceWithin, type Session, sessionStatus,
} from "../domain/session.ts";
import { sessionTokenAlg, type SessionKeys } from "./session-keys.ts";
import { assertUsable } from "./token-service.ts";
import { decodePageToken, encodePageToken } from "../domain/page-token.ts";

/** The `typ` of every session token (RFC 8725 explicit typing). */
export const sessionTokenType = "nexus-session+jwt";

/** What a caller asks for. */
export interface SessionRequest {
  readonly connectionId: string;
  readonly agentId: string;
  readonly scopes: readonly string[];
  readonly ttlSeconds: number;
  readonly allowedHosts: readonly string[];
  readonly parentSessionId: string;
}

/** A new session, with its token: shown once. */
export interface IssuedSession {
  readonly session: Session;
  readonly token: string;
}

/** A session and what it is now. */
export interface SessionView {
  readonly session: Session;
  readonly status: "active" | "expired" | "revoked";
}

/** Creating, reading, listing and revoking sessions. */
export interface SessionService {
  /** A session for `request.agentId` on a connection the caller owns, or a child of a session the caller holds. `issuer`: the Gateway's public URL. */
  create(request: SessionRequest, principal: Principal, issuer: string): Promise<IssuedSession>;
  get(sessionId: string, principal: Principal): Promise<SessionView>;
  list(query: { agentId: string; connectionId: string; status: string; pageSize: number; pageToken: string }, principal: Principal): Promise<{ sessions: SessionView[]; nextPageToken: string }>;
  /** Revokes a session and its descendants; returns it and how many were revoked. */
  revoke(sessionId: string, principal: Principal): Promise<{ view: SessionView; revoked: number }>;
}

/** What the session service uses. */
export interface SessionServiceDeps {
  readonly sessions: SessionStore;
  readonly connections: Pick<ConnectionStore, "get">;
  readonly agents: Pick<AgentStore, "get">;
  readonly keys: SessionKeys;
  readonly audit: AuditLog;
  readonly metrics: { session(event: "created" | "revoked", outcome: "success" | "refused"): void };
  readonly now: () => number;
  readonly randomUUID: () => string;
  readonly settings: { readonly maxTtlSeconds: number };
}

/**
 * Sessions: an agent acting for a workspace on one connection within a fixed
 * clearance. The connection's owner (or an operator) creates root sessions;
 * an agent holding a session delegates children that fit inside it (scopes,
 * hosts, expiry). Nothing ever widens or extends a session; revoking one
 * revokes its descendants (every exchange reads the chain, so every replica
 * sees it at once).
 */
export function createSessionService(deps: SessionServiceDeps): SessionService {
  const s = deps.settings;

  async function load(sessionId: string): Promise<Session[]> {
    const chain = await deps.sessions.chain(parseUuid(sessionId, "session_id"));
    if (chain.length === 0) throw new NexusError("session_not_found", `no session ${sessionId}`, { field: "session_id" });
    return chain;
  }
  const view = (chain: readonly Session[]): SessionView => ({ session: chain[0]!, status: sessionStatus(chain, deps.now()) });

  /** Whether `principal` may see or revoke the session: operators, the agents up its chain, the connection's owner; and the holder (to see it). */
  async function assertConcerned(principal: Principal, session: Session, action: "read" | "revoke"): Promise<void> {
    if (principal.kind === "operator" || principal.kind === "unscoped_agent") return;
    const agentId = principal.agentId;
    const delegators = chainOf(session.act).slice(1);
    if (delegators.includes(agentId) || (action === "read" && session.agentId === agentId)) return;
    const connection = await deps.connections.get(session.connectionId);
    if (connection?.agentId === agentId) return;
    throw new NexusError("agent_not_authorized", `this agent may not ${action} session ${session.id}`);
  }

  async function audit(event: string, principal: Principal, session: Session, outcome: "success" | "failure", extra: Record<string, string | number> = {}): Promise<void> {
    deps.audit.record({
      eventType: event, connectionId: session.connectionId, caller: principal.label,
      ...(principal.kind === "agent" ? { agentId: principal.agentId } : {}), outcome,
      details: { session_id: session.id, workspace_id: session.workspaceId, chain: chainOf(session.act).join(","), ...extra },
    });
  }

  return {
    async create(request, principal, issuer) {
      try {
        return await create(request, principal, issuer);
      } catch (error) {
        deps.metrics.session("created", "refused");
        deps.audit.record({
          eventType: "session.create_refused", caller: principal.label, ...(principal.kind === "agent" ? { agentId: principal.agentId } : {}),
          outcome: "failure", reason: error instanceof NexusError ? error.reason : "internal",
          ...(inputPatterns.uuid.test(request.connectionId) ? { connectionId: request.connectionId } : {}),
        });
        throw error;
      }
    },

    async get(sessionId, principal) {
      const chain = await load(sessionId);
      await assertConcerned(principal, chain[0]!, "read");
      return view(chain);
    },

    async list(q, principal) {
      const limit = parsePageSize(q.pageSize);
      if (q.status !== "" && !["active", "expired", "revoked"].includes(q.status)) throw invalidArgument("status", "must be active, expired or revoked");
      // An agent sees the sessions it holds or delegated, whatever it asks.
      const agentId = principal.kind === "agent" ? principal.agentId : q.agentId === "" ? undefined : parseUuid(q.agentId, "agent_id");
      const before = q.pageToken === "" ? undefined : decodePageToken(q.pageToken);
      const rows = await deps.sessions.list({
        ...(agentId === undefined ? {} : { agentId }),
        ...(q.connectionId === "" ? {} : { connectionId: parseUuid(q.connectionId, "connection_id") }),
        ...(before === undefined ? {} : { before }),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const views = await Promise.all(page.map(async (row) => view(row.parentId === null ? [row] : await deps.sessions.chain(row.id))));
      const last = page.at(-1);
      return {
        sessions: q.status === "" ? views : views.filter((v) => v.status === q.status),
        nextPageToken: rows.length > limit && last !== undefined ? encodePageToken(last) : "",
      };
    },

    async revoke(sessionId, principal) {
      const chain = await load(sessionId);
      const session = chain[0]!;
      try {
        await assertConcerned(principal, session, "revoke");
      } catch (error) {
        deps.metrics.session("revoked", "refused");
        await audit("session.revoke_refused", principal, session, "failure");
        throw error;
      }
      const revoked = await deps.sessions.revoke(session.id);
      deps.metrics.session("revoked", "success");
      await audit("session.revoked", principal, session, "success", { revoked });
      return { view: view(await deps.sessions.chain(session.id)), revoked };
    },
  };

  async function create(request: SessionRequest, principal: Principal, issuer: string): Promise<IssuedSession> {
    if (principal.kind === "session") throw new NexusError("agent_not_authorized", "a session cannot create sessions; the agent holding it can");
    const connection = await mustConnection(request.connectionId);
    const delegate = await deps.agents.get(parseUuid(request.agentId, "agent_id"));
    if (delegate === undefined || delegate.disabledAt !== null) throw invalidArgument("agent_id", "names no live registered agent");
    const requestedScopes = parseScopes(request.scopes);
    const requestedHosts = parseAllowedHosts(request.allowedHosts);
    if (!Number.isInteger(request.ttlSeconds) || request.ttlSeconds < 0 || request.ttlSeconds > s.maxTtlSeconds) {
      throw invalidArgument("ttl_seconds", `must be from 1 to ${s.maxTtlSeconds} (0: the default)`);
    }
    const parent = await parentFor(connection, request, principal);
    // Only once the caller may use the connection: its state is none of anyone else's business.
    assertUsable(connection);
    const ceiling = parent?.scopes ?? (connection.grantedScopes.length > 0 ? connection.grantedScopes : connection.scopes);
    const scopes = clearanceWithin(requestedScopes, ceiling, parent === undefined ? "the connection's scopes" : "the parent session's clearance");
    const allowedHosts = parent === undefined ? requestedHosts : childHosts(requestedHosts, parent.allowedHosts);
    const limit = parent === undefined ? Number.POSITIVE_INFINITY : parent.expiresAt.getTime();
    const ttl = request.ttlSeconds === 0 ? Math.min(3600, s.maxTtlSeconds) : request.ttlSeconds;
    let expiresAt = deps.now() + ttl * 1000;
    if (expiresAt > limit) {
      // A child never outlives its parent: asked for explicitly, that is refused; by default, it ends with the parent.
      if (request.ttlSeconds !== 0) throw invalidArgument("ttl_seconds", `the session would outlive its parent, which expires at ${new Date(limit).toISOString()}`);
      expiresAt = limit;
    }
    const delegator = principal.kind === "agent" ? principal.agentId : undefined;
    const act: ActClaim = parent !== undefined ? { sub: delegate.id, act: parent.act }
      : delegator !== undefined && delegator !== delegate.id ? { sub: delegate.id, act: { sub: delegator } } : { sub: delegate.id };
    const session = await deps.sessions.create({
      id: deps.randomUUID(), connectionId: connection.id, workspaceId: connection.workspaceId, agentId: delegate.id,
      delegatedByAgent: delegator ?? null, delegatedBy: principal.label, parentId: parent?.id ?? null,
      scopes, allowedHosts, act, expiresAt: new Date(Math.floor(expiresAt / 1000) * 1000),
    });
    const { kid, key } = await deps.keys.signing();
    const token = await new SignJWT({ scope: scopes.join(" "), act, nexus_connection_id: connection.id })
      .setProtectedHeader({ alg: sessionTokenAlg, kid, typ: sessionTokenType })
      .setIssuer(issuer).setSubject(connection.workspaceId).setJti(session.id)
      .setIssuedAt(Math.floor(deps.now() / 1000)).setExpirationTime(Math.floor(session.expiresAt.getTime() / 1000))
      .sign(key);
    deps.metrics.session("created", "success");
    await audit("session.created", principal, session, "success", { parent_session_id: parent?.id ?? "", scopes: scopes.length, ttl_s: Math.round((session.expiresAt.getTime() - deps.now()) / 1000) });
    return { session, token };
  }

  async function mustConnection(connectionId: string): Promise<Connection> {
    const id = parseUuid(connectionId, "connection_id");
    const connection = await deps.connections.get(id);
    if (connection === undefined) throw new NexusError("connection_not_found", `no connection ${id}`, { field: "connection_id" });
    return connection;
  }

  /** The session a new one is delegated from: none for the owner or an operator, else one the caller holds. */
  async function parentFor(connection: Connection, request: SessionRequest, principal: Principal): Promise<Session | undefined> {
    const agentId = principal.kind === "agent" ? principal.agentId : undefined;
    if (request.parentSessionId !== "") {
      const chain = await load(request.parentSessionId);
      const parent = chain[0]!;
      if (parent.connectionId !== connection.id) throw invalidArgument("parent_session_id", "is a session for another connection");
      if (agentId !== undefined && parent.agentId !== agentId) throw new NexusError("agent_not_authorized", "this agent does not hold the parent session");
      if (sessionStatus(chain, deps.now()) !== "active") throw new NexusError("invalid_grant", "the parent session is no longer active");
      return parent;
    }
    if (agentId === undefined || connection.agentId === agentId) return undefined;
    // Not the owner: only through a live session it holds for this connection.
    for (const held of await deps.sessions.heldBy(agentId, connection.id)) {
      if (sessionStatus(await deps.sessions.chain(held.id), deps.now()) === "active") return held;
    }
    assertMayUse(principal, connection);
    return undefined;
  }
}
