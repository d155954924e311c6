import { NexusError } from "../../shared/errors.ts";
import type { Connection } from "../domain/connection.ts";
import { parseProviderName, parseUuid, parseWorkspaceId } from "../domain/input-rules.ts";
import type { Provider } from "../domain/provider.ts";
import { type CredentialPayload, credentialPayload } from "./credential-payload.ts";
import { expired, type RefreshService } from "./refresh-service.ts";
import type { ServiceDeps } from "./service-deps.ts";

/** Handing credentials to agents. */
export interface TokenService {
  /** The credential of an active connection; an expired access token is refreshed first. */
  get(connectionId: string, caller: string, signal?: AbortSignal): Promise<CredentialPayload>;
  /** Refreshes now (OAuth 2.0 only) and returns the new credential. */
  refresh(connectionId: string, caller: string, signal?: AbortSignal): Promise<CredentialPayload>;
  /** The credential of a workspace's newest active connection to a provider. */
  resolve(workspaceId: string, providerName: string, caller: string, signal?: AbortSignal): Promise<{ connectionId: string; payload: CredentialPayload }>;
}

/** Creates the token use cases. */
export function createTokenService(deps: ServiceDeps, refresher: RefreshService): TokenService {
  async function load(connection: Connection, force: boolean, caller: string, signal?: AbortSignal): Promise<{ provider: Provider; payload: CredentialPayload }> {
    assertUsable(connection);
    const provider = await deps.providers.getById(connection.providerId, { includeDeleted: true });
    let record = await deps.connections.getCredential(connection.id);
    if (provider === undefined || record === undefined) throw new NexusError("connection_not_found", `connection ${connection.id} has no credential`);
    if (force) {
      if (provider.authType !== "oauth2") throw new NexusError("not_refreshable", "static credentials do not expire and cannot be refreshed");
      record = await refresher.refresh(connection.id, { trigger: "forced", caller, ...(signal === undefined ? {} : { signal }) });
    } else if (provider.authType === "oauth2" && expired(record, deps.now()) && record.refreshCt !== null) {
      record = await refresher.refresh(connection.id, { trigger: "on_demand", caller, ...(signal === undefined ? {} : { signal }) });
    }
    return { provider, payload: credentialPayload(provider, record, deps.sealer) };
  }

  async function answer(connection: Connection | undefined, id: string, force: boolean, caller: string, signal?: AbortSignal) {
    let providerName = "unknown";
    try {
      if (connection === undefined) throw new NexusError("connection_not_found", `no connection ${id}`, { field: "connection_id" });
      const { provider, payload } = await load(connection, force, caller, signal);
      providerName = provider.name;
      deps.metrics.tokenGet(provider.name, "success");
      deps.audit.record({
        eventType: force ? "token.refreshed_on_request" : "token.read",
        connectionId: connection.id, providerId: provider.id, providerName: provider.name, caller, outcome: "success",
      });
      return payload;
    } catch (error) {
      deps.metrics.tokenGet(providerName, "error");
      deps.audit.record({
        eventType: force ? "token.refreshed_on_request" : "token.read",
        connectionId: id, caller, outcome: "failure",
        reason: error instanceof NexusError ? error.reason : "internal",
        ...(connection === undefined ? {} : { providerId: connection.providerId }),
      });
      throw error;
    }
  }

  return {
    async get(connectionId, caller, signal) {
      const id = parseUuid(connectionId, "connection_id");
      return answer(await deps.connections.get(id), id, false, caller, signal);
    },
    async refresh(connectionId, caller, signal) {
      const id = parseUuid(connectionId, "connection_id");
      return answer(await deps.connections.get(id), id, true, caller, signal);
    },
    async resolve(workspaceId, providerName, caller, signal) {
      const ws = parseWorkspaceId(workspaceId);
      const name = parseProviderName(providerName);
      const connection = await deps.connections.newestActive(ws, name);
      if (connection === undefined) {
        deps.metrics.tokenGet(name, "error");
        throw new NexusError("connection_not_found", `workspace has no active connection to "${name}"`);
      }
      return { connectionId: connection.id, payload: await answer(connection, connection.id, false, caller, signal) };
    },
  };
}

/** A connection's status decides whether it has a usable credential; each other status names its reason. */
export function assertUsable(connection: Connection): void {
  switch (connection.status) {
    case "active":
      return;
    case "pending":
      throw new NexusError("connection_pending", "the user has not finished connecting yet; poll check-connection");
    case "failed":
      throw new NexusError("connection_failed", `the connection failed (${connection.statusReason || "unknown"}); start a new one`);
    case "attention_required":
      throw new NexusError("attention_required", `the user must reconnect (${connection.statusReason || "grant revoked"})`);
    case "revoked":
      throw new NexusError("connection_revoked", "the connection was revoked");
  }
}
