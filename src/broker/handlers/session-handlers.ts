import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { SessionService as SessionServiceDesc } from "../../../gen/nexus/broker/v1/session_service_pb.ts";
import { type IssuedSession, IssuedSessionSchema, type SessionInfo, SessionInfoSchema } from "../../../gen/nexus/common/v1/session_pb.ts";
import { NexusError } from "../../shared/errors.ts";
import type { Session } from "../domain/session.ts";
import type { SessionService, SessionView } from "../services/session-service.ts";
import type { SessionKeys } from "../services/session-keys.ts";
import type { TokenExchangeService } from "../services/token-exchange-service.ts";
import { agentAudienceHeader, principalOf } from "./caller.ts";
import { credentialToProto } from "./connection-handlers.ts";

/** The use cases the session RPCs call. */
export interface SessionHandlerDeps {
  readonly sessions: SessionService;
  readonly exchange: TokenExchangeService;
  readonly keys: SessionKeys;
}

/** The SessionService RPCs. */
export function createSessionHandlers(deps: SessionHandlerDeps): ServiceImpl<typeof SessionServiceDesc> {
  return {
    async createSession(req, ctx) {
      const spec = req.spec;
      const issued = await deps.sessions.create({
        connectionId: spec?.connectionId ?? "", agentId: spec?.agentId ?? "", scopes: spec?.scopes ?? [],
        ttlSeconds: spec?.ttlSeconds ?? 0, allowedHosts: spec?.allowedHosts ?? [], parentSessionId: spec?.parentSessionId ?? "",
      }, principalOf(ctx), issuerOf(ctx));
      ctx.responseHeader.set("x-http-code", "201");
      ctx.responseHeader.set("cache-control", "no-store");
      return { session: issuedToProto(issued.session, issued.token) };
    },
    async getSession(req, ctx) {
      return { session: sessionToProto(await deps.sessions.get(req.sessionId, principalOf(ctx))) };
    },
    async listSessions(req, ctx) {
      const page = await deps.sessions.list(req, principalOf(ctx));
      return { sessions: page.sessions.map(sessionToProto), nextPageToken: page.nextPageToken };
    },
    async revokeSession(req, ctx) {
      const r = await deps.sessions.revoke(req.sessionId, principalOf(ctx));
      return { session: sessionToProto(r.view), revokedCount: r.revoked };
    },
    async exchangeToken(req, ctx) {
      const x = req.exchange;
      ctx.responseHeader.set("cache-control", "no-store");
      const r = await deps.exchange.exchange({
        grantType: x?.grantType ?? "", subjectToken: x?.subjectToken ?? "", subjectTokenType: x?.subjectTokenType ?? "",
        scope: x?.scope ?? "", resource: x?.resource ?? "", audience: x?.audience ?? "", requestedTokenType: x?.requestedTokenType ?? "",
        actorToken: x?.actorToken ?? "", clientId: x?.clientId ?? "",
      }, principalOf(ctx), issuerOf(ctx));
      return {
        result: {
          accessToken: r.accessToken, issuedTokenType: r.issuedTokenType, tokenType: r.tokenType, expiresIn: r.expiresIn,
          scope: r.scope, credential: credentialToProto(r.credential),
        },
      };
    },
    async getSessionKeys() {
      return { jwks: { keys: (await deps.keys.jwks()).keys as never } };
    },
    async rotateSessionKey(_req, ctx) {
      if (principalOf(ctx).kind !== "operator") throw new NexusError("permission_denied", "only an operator rotates session keys");
      return { kid: await deps.keys.rotate() };
    },
  };
}

/** The issuer of session tokens: the Gateway names its public URL on every call it makes. */
function issuerOf(ctx: HandlerContext): string {
  const issuer = ctx.requestHeader.get(agentAudienceHeader);
  if (issuer === null || !/^https?:\/\/[^\s]+$/.test(issuer)) {
    throw new NexusError("invalid_request", "sessions are created and exchanged through the Gateway, which names itself as their issuer");
  }
  return issuer;
}

function issuedToProto(s: Session, token: string): IssuedSession {
  return create(IssuedSessionSchema, {
    sessionId: s.id, sessionToken: token, scopes: [...s.scopes], expiresAt: Math.floor(s.expiresAt.getTime() / 1000),
    parentSessionId: s.parentId ?? "", allowedHosts: [...s.allowedHosts],
  });
}

function sessionToProto(v: SessionView): SessionInfo {
  const s = v.session;
  return create(SessionInfoSchema, {
    sessionId: s.id, connectionId: s.connectionId, agentId: s.agentId, scopes: [...s.scopes], allowedHosts: [...s.allowedHosts],
    expiresAt: Math.floor(s.expiresAt.getTime() / 1000), status: v.status, parentSessionId: s.parentId ?? "",
    delegatedByAgentId: s.delegatedByAgent ?? "", workspaceId: s.workspaceId,
  });
}
