import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Connection, ConnectionSchema, type ConnectionService as ConnectionServiceDesc } from "../../../gen/nexus/broker/v1/connection_service_pb.ts";
import { type Credential, CredentialSchema } from "../../../gen/nexus/common/v1/credential_pb.ts";
import type { CaptureService } from "../services/capture-service.ts";
import type { ConnectionService, ConnectionView } from "../services/connection-service.ts";
import type { CredentialPayload } from "../services/credential-payload.ts";
import type { HandshakeService } from "../services/handshake-service.ts";
import type { TokenService } from "../services/token-service.ts";
import { auditCaller } from "../domain/principal.ts";
import { callerOf, principalOf } from "./caller.ts";
import { cacheHintHeader, formatCacheHint } from "../../shared/token-cache-hint.ts";

/** The use cases the connection RPCs call. */
export interface ConnectionHandlerDeps {
  readonly handshakes: HandshakeService;
  readonly tokens: TokenService;
  readonly connections: ConnectionService;
  readonly captures: CaptureService;
  /** Describes GetToken answers to Gateways that ask, so that they may keep them (src/shared/token-cache-hint.ts). */
  readonly cacheHints?: { readonly brokerId: string; readonly now: () => number };
}


/** The ConnectionService RPCs. */
export function createConnectionHandlers(deps: ConnectionHandlerDeps): ServiceImpl<typeof ConnectionServiceDesc> {
  return {
    async startConnection(req, ctx) {
      const r = await deps.handshakes.start({
        workspaceId: req.workspaceId, providerId: req.providerId, providerName: req.providerName,
        scopes: req.scopes, returnUrl: req.returnUrl, principal: principalOf(ctx),
      }, ctx.signal);
      return { ...r, scopes: [...r.scopes] };
    },
    async getConnection(req, ctx) {
      return { connection: connectionToProto(await deps.connections.get(req.connectionId, principalOf(ctx))) };
    },
    async listConnections(req, ctx) {
      const page = await deps.connections.list(req, principalOf(ctx));
      return { connections: page.connections.map(connectionToProto), nextPageToken: page.nextPageToken };
    },
    async getToken(req, ctx) {
      ctx.responseHeader.set("cache-control", "no-store");
      const principal = principalOf(ctx);
      if (deps.cacheHints === undefined || ctx.requestHeader.get(cacheHintHeader) !== "1") {
        return { credential: credentialToProto(await deps.tokens.get(req.connectionId, principal, ctx.signal)) };
      }
      const read = await deps.tokens.read(req.connectionId, principal, ctx.signal);
      const who = auditCaller(principal);
      // What the Gateway needs to keep the answer (how long, and from which Broker) and to audit the reads it answers from it.
      ctx.responseHeader.set(cacheHintHeader, formatCacheHint({
        brokerId: deps.cacheHints.brokerId,
        maxAgeMs: Math.max(0, Math.min(read.readUntilMs - deps.cacheHints.now(), 86_400_000)),
        audit: { providerId: read.providerId, providerName: read.providerName, caller: who.caller, agentId: who.agentId ?? "" },
      }));
      return { credential: credentialToProto(read.payload) };
    },
    async refreshToken(req, ctx) {
      ctx.responseHeader.set("cache-control", "no-store");
      return { credential: credentialToProto(await deps.tokens.refresh(req.connectionId, principalOf(ctx), ctx.signal)) };
    },
    async resolveToken(req, ctx) {
      ctx.responseHeader.set("cache-control", "no-store");
      const r = await deps.tokens.resolve(req.workspaceId, req.providerName, principalOf(ctx), ctx.signal);
      return { credential: credentialToProto(r.payload), connectionId: r.connectionId };
    },
    async getCaptureSchema(req) {
      const form = await deps.captures.form(req.state);
      return { providerName: form.providerName, schema: form.schema as never };
    },
    async captureCredential(req, ctx) {
      const r = await deps.captures.capture(req.state, req.credentials, callerOf(ctx), ctx.signal);
      return r;
    },
    async revokeConnection(req, ctx) {
      return { connection: connectionToProto(await deps.connections.revoke(req.connectionId, principalOf(ctx), ctx.signal)) };
    },
  };
}

/** A credential payload as the contract carries it. */
export function credentialToProto(p: CredentialPayload): Credential {
  return create(CredentialSchema, {
    strategy: { type: p.strategy.type, config: { ...p.strategy.config } },
    credentials: { ...p.credentials },
    ...(p.expiresAt === undefined ? {} : { expiresAt: Math.max(0, p.expiresAt) }),
  });
}

function connectionToProto(v: ConnectionView): Connection {
  const c = v.connection;
  return create(ConnectionSchema, {
    id: c.id, workspaceId: c.workspaceId, providerId: c.providerId, providerName: v.provider?.name ?? "",
    status: c.status, statusReason: c.statusReason, scopes: [...c.scopes], grantedScopes: [...c.grantedScopes],
    createTime: timestampFromDate(c.createdAt), updateTime: timestampFromDate(c.updatedAt),
    ...(v.expiresAt === null ? {} : { expireTime: timestampFromDate(v.expiresAt) }),
    authType: v.provider?.authType ?? "",
    agentId: c.agentId ?? "",
  });
}
