import { NexusError } from "../../shared/errors.ts";
import type { Connection, CredentialRecord } from "../domain/connection.ts";
import type { Provider } from "../domain/provider.ts";
import type { AuditLog, BrokerMetrics, ConnectionStore, ProviderStore, Sealer } from "../domain/ports.ts";
import { parseProviderName, parseUuid, parseWorkspaceId } from "../../shared/input-rules.ts";
import { agentScope, assertMayUse, auditCaller, type Principal } from "../domain/principal.ts";
import type { CachedAnswer, CredentialCache } from "./credential-cache.ts";
import { type CredentialPayload, credentialPayload } from "./credential-payload.ts";
import { expired, type RefreshService, refreshOnReadFrom } from "./refresh-service.ts";

/** Handing credentials to agents. */
export interface TokenService {
  /** The credential of an active connection; an expired access token is refreshed first. */
  get(connectionId: string, principal: Principal, signal?: AbortSignal): Promise<CredentialPayload>;
  /** Like {@linkcode TokenService.get}, with what a Gateway needs to keep the answer and account for its reads. */
  read(connectionId: string, principal: Principal, signal?: AbortSignal): Promise<TokenRead>;
  /** Refreshes now (OAuth 2.0 only) and returns the new credential. */
  refresh(connectionId: string, principal: Principal, signal?: AbortSignal): Promise<CredentialPayload>;
  /**
   * The credential of a workspace's newest active connection to a provider,
   * among those the caller may use (for a registered agent: the ones it started).
   */
  resolve(workspaceId: string, providerName: string, principal: Principal, signal?: AbortSignal): Promise<{ connectionId: string; payload: CredentialPayload }>;
}

/** A credential and what keeping it elsewhere (a Gateway's cache) must know. */
export interface TokenRead {
  readonly payload: CredentialPayload;
  readonly providerId: string;
  readonly providerName: string;
  /** Until when (ms) the answer stays true barring a change: reading later would refresh it. */
  readonly readUntilMs: number;
}

/** What a lookup learnt before it failed, for the audit row. */
interface Seen {
  providerId?: string;
}

/** The provider and credential read with the connection, in one round trip. */
interface Read {
  readonly provider: Provider | undefined;
  readonly credential: CredentialRecord | undefined;
}

/** What the token service uses. */
export interface TokenServiceDeps {
  /** `readForToken` reads a cache miss's three records in one round trip; without it they are read one by one. */
  readonly connections: Pick<ConnectionStore, "get" | "getCredential" | "newestActive" | "readForToken">;
  readonly providers: Pick<ProviderStore, "getById" | "getByName">;
  /** Opens stored credentials for the answer. */
  readonly sealer: Pick<Sealer, "openText">;
  /** Refreshes an expired access token on read, and on request. */
  readonly refresher: Pick<RefreshService, "refresh">;
  readonly audit: Pick<AuditLog, "record">;
  readonly metrics: Pick<BrokerMetrics, "tokenGet" | "tokenCacheLookup">;
  readonly now: () => number;
  /** Answers plain reads from memory; without it every read goes to the database. */
  readonly cache?: CredentialCache;
}

/**
 * Creates the token use cases. With a `cache`, a plain read of a recently read
 * credential is answered from memory (see credential-cache.ts); forced
 * refreshes and workspace lookups always go to the database.
 */
export function createTokenService(deps: TokenServiceDeps): TokenService {
  const { refresher, cache } = deps;
  async function load(
    connection: Connection, read: Read | undefined, force: boolean, principal: Principal, ticket: number, signal?: AbortSignal,
  ): Promise<CachedAnswer> {
    // Before anything else: a stranger's connection says nothing about its status.
    assertMayUse(principal, connection);
    assertUsable(connection);
    const provider = read === undefined ? await deps.providers.getById(connection.providerId, { includeDeleted: true }) : read.provider;
    let record = read === undefined ? await deps.connections.getCredential(connection.id) : read.credential;
    if (provider === undefined || record === undefined) throw new NexusError("connection_not_found", `connection ${connection.id} has no credential`);
    // The refresh's own audit events (token.refreshed, ...) name the caller and its agent too.
    const who = auditCaller(principal);
    if (force) {
      if (provider.authType !== "oauth2") throw new NexusError("not_refreshable", "static credentials do not expire and cannot be refreshed");
      record = await refresher.refresh(connection.id, { trigger: "forced", ...who, ...(signal === undefined ? {} : { signal }) });
    } else if (provider.authType === "oauth2" && expired(record, deps.now()) && record.refreshCt !== null) {
      record = await refresher.refresh(connection.id, { trigger: "on_demand", ...who, ...(signal === undefined ? {} : { signal }) });
    }
    const answer: CachedAnswer = {
      connectionId: connection.id, status: connection.status, agentId: connection.agentId, providerId: provider.id, providerName: provider.name,
      payload: credentialPayload(provider, record, deps.sealer), readUntilMs: refreshOnReadFrom(record),
    };
    // Kept only until reading would refresh it; an expired token without a refresh token is never kept.
    if (!force) cache?.set(ticket, answer, answer.readUntilMs);
    return answer;
  }

  /** Runs `lookup` and records the outcome (metric and audit row) either way. */
  async function answer(lookup: (seen: Seen) => Promise<CachedAnswer>, id: string, force: boolean, principal: Principal): Promise<CachedAnswer> {
    const eventType = force ? "token.refreshed_on_request" : "token.read";
    const who = auditCaller(principal);
    const seen: Seen = {};
    let providerName = "unknown";
    try {
      const found = await lookup(seen);
      providerName = found.providerName;
      deps.metrics.tokenGet(providerName, "success");
      deps.audit.record({ eventType, connectionId: id, providerId: found.providerId, providerName, ...who, outcome: "success" });
      return found;
    } catch (error) {
      deps.metrics.tokenGet(providerName, "error");
      const providerId = seen.providerId;
      deps.audit.record({
        eventType, connectionId: id, ...who, outcome: "failure",
        reason: error instanceof NexusError ? error.reason : "internal",
        ...(providerId === undefined ? {} : { providerId }),
      });
      throw error;
    }
  }

  /** The cached answer for a plain read, if any and if the caller may have it; counts the lookup. */
  function cached(id: string, principal: Principal): CachedAnswer | undefined {
    if (cache === undefined) return undefined;
    const hit = cache.get(id);
    deps.metrics.tokenCacheLookup(hit !== undefined ? "hit" : cache.trusted ? "miss" : "untrusted");
    if (hit !== undefined) assertMayUse(principal, { id, agentId: hit.agentId });
    return hit;
  }

  /** Reads the connection, its provider and its credential: in one round trip when the store can. */
  async function fromDatabase(id: string, known: Connection | undefined, force: boolean, principal: Principal, seen: Seen, signal?: AbortSignal): Promise<CachedAnswer> {
    // Taken before the first read, so an invalidation racing the reads keeps their result out of the cache.
    const ticket = cache?.ticket() ?? 0;
    const oneTrip = deps.connections.readForToken !== undefined;
    const read = oneTrip ? await deps.connections.readForToken!(id) : undefined;
    const connection = oneTrip ? read?.connection : known ?? await deps.connections.get(id);
    if (connection === undefined) throw new NexusError("connection_not_found", `no connection ${id}`, { field: "connection_id" });
    seen.providerId = connection.providerId;
    return load(connection, read, force, principal, ticket, signal);
  }

  const get = (id: string, principal: Principal, signal?: AbortSignal) =>
    answer(async (seen) => cached(id, principal) ?? fromDatabase(id, undefined, false, principal, seen, signal), id, false, principal);

  return {
    async get(connectionId, principal, signal) {
      return (await get(parseUuid(connectionId, "connection_id"), principal, signal)).payload;
    },
    async read(connectionId, principal, signal) {
      const found = await get(parseUuid(connectionId, "connection_id"), principal, signal);
      return { payload: found.payload, providerId: found.providerId, providerName: found.providerName, readUntilMs: found.readUntilMs };
    },
    async refresh(connectionId, principal, signal) {
      const id = parseUuid(connectionId, "connection_id");
      return (await answer((seen) => fromDatabase(id, undefined, true, principal, seen, signal), id, true, principal)).payload;
    },
    async resolve(workspaceId, providerName, principal, signal) {
      const ws = parseWorkspaceId(workspaceId);
      const name = parseProviderName(providerName);
      // A registered agent only ever finds its own connections, so one planted by another agent never answers it.
      const connection = await deps.connections.newestActive(ws, name, agentScope(principal));
      if (connection === undefined) {
        // The label is a registered provider's name or "unknown", never the caller's text:
        // each distinct label value is a new series, and /metrics would grow without bound.
        const provider = await deps.providers.getByName(name);
        deps.metrics.tokenGet(provider?.name ?? "unknown", "error");
        throw new NexusError("connection_not_found", `workspace has no active connection to "${name}"`);
      }
      const found = await answer(async (seen) => cached(connection.id, principal) ?? fromDatabase(connection.id, connection, false, principal, seen, signal), connection.id, false, principal);
      return { connectionId: connection.id, payload: found.payload };
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
