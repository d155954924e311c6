import { invalidArgument, NexusError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import { type Connection, type ConnectionStatus, connectionStatuses } from "../domain/connection.ts";
import { parsePageSize, parseProviderName, parseUuid, parseWorkspaceId } from "../../shared/input-rules.ts";
import type { AuditLog, ConnectionStore, ProviderStore, Sealer } from "../domain/ports.ts";
import { agentScope, assertMayUse, auditCaller, type Principal } from "../domain/principal.ts";
import type { Provider } from "../domain/provider.ts";
import { sealedFields } from "../domain/sealed-fields.ts";
import type { FetchLike } from "../oauth/fetch-with-timeout.ts";
import { knownQuirks } from "../oauth/quirks.ts";
import { revokeToken } from "../oauth/revocation.ts";
import { decodePageToken, encodePageToken } from "../domain/page-token.ts";
import type { EndpointResolver } from "./provider-endpoints.ts";

/** A connection with what callers need to know about its provider and token. */
export interface ConnectionView {
  readonly connection: Connection;
  readonly provider: Provider | undefined;
  readonly expiresAt: Date | null;
}

/** Reading, listing and revoking connections. */
export interface ConnectionService {
  /** A connection the caller may use (a registered agent: one it started). */
  get(connectionId: string, principal: Principal): Promise<ConnectionView>;
  /** Connections, newest first; a registered agent sees only its own. */
  list(query: { workspaceId: string; providerName: string; status: string; pageSize: number; pageToken: string }, principal: Principal): Promise<{ connections: ConnectionView[]; nextPageToken: string }>;
  revoke(connectionId: string, principal: Principal, signal?: AbortSignal): Promise<ConnectionView>;
}

/** What the connection use cases use. */
export interface ConnectionServiceDeps {
  readonly connections: Pick<ConnectionStore, "get" | "getCredential" | "list" | "revoke">;
  readonly providers: Pick<ProviderStore, "getById" | "getByName">;
  /** Finds the provider's revocation endpoint. */
  readonly endpoints: EndpointResolver;
  /** Opens the refresh token and client secret for revocation at the provider. */
  readonly sealer: Pick<Sealer, "openText">;
  readonly fetch: FetchLike;
  readonly audit: Pick<AuditLog, "recordNow">;
  readonly logger: Logger;
  readonly settings: {
    /** Deadline of one call to a provider. */
    readonly providerTimeoutMs: number;
  };
}

/** Creates the connection use cases. */
export function createConnectionService(deps: ConnectionServiceDeps): ConnectionService {
  async function view(connection: Connection): Promise<ConnectionView> {
    const provider = await deps.providers.getById(connection.providerId, { includeDeleted: true });
    const record = connection.status === "active" ? await deps.connections.getCredential(connection.id) : undefined;
    return { connection, provider, expiresAt: record?.expiresAt ?? null };
  }
  async function mustGet(connectionId: string, principal: Principal): Promise<Connection> {
    const id = parseUuid(connectionId, "connection_id");
    const connection = await deps.connections.get(id);
    if (connection === undefined) throw new NexusError("connection_not_found", `no connection ${id}`, { field: "connection_id" });
    assertMayUse(principal, connection);
    return connection;
  }
  return {
    async get(connectionId, principal) {
      return view(await mustGet(connectionId, principal));
    },
    async list(q, principal) {
      const limit = parsePageSize(q.pageSize);
      let providerId: string | undefined;
      if (q.providerName !== "") {
        const provider = await deps.providers.getByName(parseProviderName(q.providerName));
        if (provider === undefined) return { connections: [], nextPageToken: "" };
        providerId = provider.id;
      }
      if (q.status !== "" && !(connectionStatuses as readonly string[]).includes(q.status)) {
        throw invalidArgument("status", `must be one of ${connectionStatuses.join(", ")}`);
      }
      const rows = await deps.connections.list({
        ...(q.workspaceId === "" ? {} : { workspaceId: parseWorkspaceId(q.workspaceId) }),
        ...(providerId === undefined ? {} : { providerId }),
        ...(agentScope(principal) === undefined ? {} : { agentId: agentScope(principal)! }),
        ...(q.status === "" ? {} : { status: q.status as ConnectionStatus }),
        ...(q.pageToken === "" ? {} : { before: decodePageToken(q.pageToken) }),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        connections: await Promise.all(page.map(view)),
        nextPageToken: rows.length > limit && last !== undefined ? encodePageToken(last) : "",
      };
    },
    async revoke(connectionId, principal, signal) {
      const connection = await mustGet(connectionId, principal);
      const provider = await deps.providers.getById(connection.providerId, { includeDeleted: true });
      const record = await deps.connections.getCredential(connection.id);
      let revokedAtProvider = "not_attempted";
      if (provider?.authType === "oauth2" && record?.refreshCt != null) {
        // Best effort (RFC 7009): the local secrets go whatever the provider answers.
        try {
          const endpoints = await deps.endpoints.resolve(provider, signal);
          if (endpoints.revocationEndpoint !== undefined) {
            const token = deps.sealer.openText(record.refreshCt, { ...sealedFields.credentialRefreshToken, rowId: connection.id });
            const clientSecret = provider.clientSecretCt === null ? "" : deps.sealer.openText(provider.clientSecretCt, { ...sealedFields.providerClientSecret, rowId: provider.id });
            revokedAtProvider = await revokeToken(
              {
                revocationEndpoint: endpoints.revocationEndpoint, tokenEndpoint: endpoints.tokenEndpoint, clientId: provider.clientId, clientSecret,
                authMethod: endpoints.authMethod, quirks: knownQuirks(provider.params.quirks),
              },
              token, "refresh_token", { fetch: deps.fetch, timeoutMs: deps.settings.providerTimeoutMs, ...(signal === undefined ? {} : { signal }) },
            );
          }
        } catch (error) {
          deps.logger.warn("revocation at the provider failed", { connection_id: connection.id, err: error });
          revokedAtProvider = "failed";
        }
      }
      const revoked = await deps.connections.revoke(connection.id);
      await deps.audit.recordNow({
        eventType: "connection.revoked", connectionId: connection.id, providerId: connection.providerId,
        ...(provider === undefined ? {} : { providerName: provider.name }), ...auditCaller(principal), outcome: "success", details: { at_provider: revokedAtProvider },
      });
      return { connection: revoked ?? connection, provider, expiresAt: null };
    },
  };
}
