import { errors, jwtVerify, type JWTPayload } from "jose";
import { NexusError } from "../../shared/errors.ts";
import type { AgentStore, AuditLog, ConnectionStore, ProviderStore, SessionStore } from "../domain/ports.ts";
import type { Principal } from "../domain/principal.ts";
import { type ActClaim, chainOf, exchangeScopes, type Session, sessionStatus } from "../domain/session.ts";
import type { TokenSet } from "../oauth/token-endpoint.ts";
import type { CredentialPayload } from "./credential-payload.ts";
import type { RefreshService } from "./refresh-service.ts";
import { sessionTokenAlg, type SessionKeys } from "./session-keys.ts";
import { sessionTokenType } from "./session-service.ts";
import type { TokenService } from "./token-service.ts";

/** RFC 8693 names. */
export const tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange";
export const jwtTokenType = "urn:ietf:params:oauth:token-type:jwt";
export const accessTokenType = "urn:ietf:params:oauth:token-type:access_token";

/** An RFC 8693 request, as the form sends it. */
export interface ExchangeRequest {
  readonly grantType: string;
  readonly subjectToken: string;
  readonly subjectTokenType: string;
  readonly scope: string;
  readonly resource: string;
  readonly audience: string;
  readonly requestedTokenType: string;
  readonly actorToken: string;
  /** The client id an OAuth library sent; when given, it must be the calling agent's id. */
  readonly clientId: string;
}

/** What an exchange answers. */
export interface ExchangeResult {
  readonly accessToken: string;
  readonly issuedTokenType: string;
  readonly tokenType: string;
  readonly expiresIn: number;
  readonly scope: string;
  readonly credential: CredentialPayload;
}

/** Token exchange: a session token for the provider credential. */
export interface TokenExchangeService {
  /** Checks everything, every time; `issuer` is the Gateway's public URL. Refusals are RFC 6749 reasons. */
  exchange(request: ExchangeRequest, principal: Principal, issuer: string): Promise<ExchangeResult>;
}

/** What the exchange uses. */
export interface TokenExchangeDeps {
  readonly sessions: Pick<SessionStore, "chain">;
  readonly connections: Pick<ConnectionStore, "get">;
  readonly providers: Pick<ProviderStore, "getById">;
  readonly agents: Pick<AgentStore, "get">;
  readonly keys: SessionKeys;
  readonly tokens: Pick<TokenService, "get">;
  readonly refresher: Pick<RefreshService, "narrow">;
  readonly audit: AuditLog;
  readonly metrics: { session(event: "exchanged", outcome: "success" | "refused"): void };
  readonly now: () => number;
}

/** Narrowed tokens kept per Broker, per (connection, scopes), until a minute before they expire. */
const narrowedMarginMs = 60_000;
const maxNarrowed = 10_000;

/**
 * The exchange checks, on every call: the token's signature (current and
 * previous keys), type, issuer and expiry; that the caller is the agent the
 * session was given to (act.sub: a stolen token is useless without that
 * agent's own credential); that the session and every ancestor are live and
 * the connection active; that the scopes asked for are within the clearance
 * and the resource is the session's provider. The credential comes with the
 * session's hosts in its strategy and never outlives the session. Where the
 * provider narrows scopes on refresh, fewer scopes get a token minted for just
 * those.
 */
export function createTokenExchangeService(deps: TokenExchangeDeps): TokenExchangeService {
  const narrowed = new Map<string, { tokens: TokenSet; until: number }>();

  async function verify(request: ExchangeRequest, issuer: string): Promise<JWTPayload> {
    if (request.grantType !== tokenExchangeGrant) {
      throw new NexusError("unsupported_grant_type", `grant_type must be ${tokenExchangeGrant}`);
    }
    if (request.subjectToken === "") throw new NexusError("invalid_request", "subject_token is required (the session token)", { field: "subject_token" });
    if (request.subjectTokenType !== jwtTokenType && request.subjectTokenType !== accessTokenType) {
      throw new NexusError("invalid_request", `subject_token_type must be ${jwtTokenType}`, { field: "subject_token_type" });
    }
    if (request.actorToken !== "") throw new NexusError("invalid_request", "actor_token is not supported: the caller's own credential names the actor", { field: "actor_token" });
    if (request.requestedTokenType !== "" && request.requestedTokenType !== accessTokenType) {
      throw new NexusError("invalid_request", `requested_token_type can only be ${accessTokenType}`, { field: "requested_token_type" });
    }
    try {
      const { payload } = await jwtVerify(request.subjectToken, deps.keys.verifier(), {
        issuer, typ: sessionTokenType, algorithms: [sessionTokenAlg], currentDate: new Date(deps.now()),
        requiredClaims: ["jti", "sub", "exp", "act", "nexus_connection_id"],
      });
      return payload;
    } catch (error) {
      throw new NexusError("invalid_grant", error instanceof errors.JWTExpired ? "the session token has expired" : "the subject_token is not a valid session token");
    }
  }

  async function credentialFor(session: Session, scopes: readonly string[], narrow: boolean, principal: Principal, separator: string | RegExp): Promise<{ payload: CredentialPayload; scope: string | undefined; narrowed: boolean }> {
    const asSession: Principal = { kind: "session", label: principal.label, agentId: session.agentId, sessionId: session.id, connectionId: session.connectionId };
    if (!narrow) {
      const payload = await deps.tokens.get(session.connectionId, asSession);
      return { payload, scope: payload.credentials.scope, narrowed: false };
    }
    const key = `${session.connectionId} ${[...scopes].sort().join(" ")}`;
    let hit = narrowed.get(key);
    if (hit === undefined || hit.until <= deps.now()) {
      const tokens = await deps.refresher.narrow(session.connectionId, scopes, { caller: principal.label, agentId: session.agentId });
      // A provider that ignored the scopes asked for minted a token that can do more than the session may: never hand it out.
      const minted = tokens.scope?.split(separator).filter((s) => s !== "") ?? [];
      const wider = minted.filter((s) => !scopes.includes(s));
      if (wider.length > 0) {
        throw new NexusError("invalid_scope", `the provider did not narrow the token to these scopes (it also holds ${wider.length} more); ask for the session's whole clearance`);
      }
      const expiresAt = tokens.expiresIn === undefined ? Number.POSITIVE_INFINITY : deps.now() + tokens.expiresIn * 1000;
      hit = { tokens, until: Math.min(expiresAt - narrowedMarginMs, deps.now() + 3600_000) };
      narrowed.delete(key);
      if (hit.until > deps.now()) narrowed.set(key, hit);
      if (narrowed.size > maxNarrowed) narrowed.delete(narrowed.keys().next().value as string);
    }
    const t = hit.tokens;
    const credentials: Record<string, string> = { ...t.kept, access_token: t.accessToken, token_type: t.tokenType, ...(t.scope === undefined ? {} : { scope: t.scope }) };
    const expiresAt = t.expiresIn === undefined ? undefined : Math.floor((hit.until + narrowedMarginMs) / 1000);
    return { payload: { strategy: { type: "oauth2", config: {} }, credentials, expiresAt }, scope: t.scope ?? scopes.join(" "), narrowed: true };
  }

  async function run(request: ExchangeRequest, principal: Principal, issuer: string, seen: { session?: Session }): Promise<ExchangeResult> {
    if (request.clientId !== "" && (principal.kind !== "agent" || request.clientId !== principal.agentId)) {
      throw new NexusError("invalid_client", "client_id is not the agent whose credential authenticated the call");
    }
    const claims = await verify(request, issuer);
    const act = claims.act as ActClaim | undefined;
    if (principal.kind !== "agent" || typeof act?.sub !== "string" || act.sub !== principal.agentId) {
      throw new NexusError("invalid_grant", "this session token was given to another agent; only that agent may exchange it");
    }
    const chain = await deps.sessions.chain(String(claims.jti));
    const session = chain[0];
    if (session === undefined || session.connectionId !== claims.nexus_connection_id || session.agentId !== principal.agentId) {
      throw new NexusError("invalid_grant", "the session does not exist");
    }
    seen.session = session;
    const status = sessionStatus(chain, deps.now());
    if (status !== "active") throw new NexusError("invalid_grant", `the session is ${status}${status === "revoked" ? " (or one it was delegated from)" : ""}`);
    // A disabled agent anywhere up the chain ends what it delegated: disabling a compromised orchestrator cuts off its sub-agents.
    for (const agentId of chainOf(session.act).slice(1)) {
      const agent = await deps.agents.get(agentId);
      if (agent === undefined || agent.disabledAt !== null) throw new NexusError("invalid_grant", "an agent that delegated this session is disabled");
    }
    const connection = await deps.connections.get(session.connectionId);
    if (connection?.status !== "active") throw new NexusError("invalid_grant", `the session's connection is ${connection?.status ?? "gone"}`);
    const provider = await deps.providers.getById(connection.providerId, { includeDeleted: true });
    if (provider === undefined) throw new NexusError("invalid_grant", "the session's provider is gone");
    const resource = request.resource.trim().toLowerCase();
    if (resource !== "" && resource !== provider.name && !provider.aliases.includes(resource)) {
      throw new NexusError("invalid_target", `resource "${request.resource.slice(0, 64)}" is not this session's provider`, { field: "resource" });
    }
    const scopes = exchangeScopes(request.scope, session.scopes);
    const granted = connection.grantedScopes.length > 0 ? connection.grantedScopes : connection.scopes;
    const fewer = scopes.length < granted.length || scopes.some((sc) => !granted.includes(sc));
    const narrow = provider.authType === "oauth2" && provider.params.narrowScopesOnRefresh && fewer;
    const separator = provider.params.scopeSeparator !== undefined && provider.params.scopeSeparator.trim() !== "" ? provider.params.scopeSeparator : /\s+/;
    const { payload, scope, narrowed: wasNarrowed } = await credentialFor(session, scopes, narrow, principal, separator);
    const sessionEnds = Math.floor(session.expiresAt.getTime() / 1000);
    const expiresAt = Math.min(payload.expiresAt ?? sessionEnds, sessionEnds);
    const config = { ...payload.strategy.config, ...(session.allowedHosts.length === 0 ? {} : { allowed_hosts: session.allowedHosts.join(",") }) };
    const oauth = payload.strategy.type === "oauth2";
    deps.metrics.session("exchanged", "success");
    deps.audit.record({
      eventType: "session.exchanged", connectionId: session.connectionId, providerId: provider.id, providerName: provider.name,
      caller: principal.label, agentId: principal.agentId, outcome: "success",
      details: { session_id: session.id, workspace_id: session.workspaceId, chain: chainOf(session.act).join(","), scopes: scopes.length, narrowed: wasNarrowed },
    });
    return {
      accessToken: oauth ? (payload.credentials.access_token ?? "") : mainSecret(payload),
      issuedTokenType: accessTokenType,
      tokenType: oauth ? "Bearer" : "N_A",
      expiresIn: Math.max(0, expiresAt - Math.floor(deps.now() / 1000)),
      scope: oauth ? (wasNarrowed ? (scope ?? "") : scopes.join(" ")) : scopes.join(" "),
      credential: { strategy: { type: payload.strategy.type, config }, credentials: payload.credentials, expiresAt },
    };
  }

  return {
    async exchange(request, principal, issuer) {
      const seen: { session?: Session } = {};
      try {
        return await run(request, principal, issuer, seen);
      } catch (error) {
        deps.metrics.session("exchanged", "refused");
        const reason = error instanceof NexusError ? error.reason : "internal";
        deps.audit.record({
          eventType: "session.exchange_refused", caller: principal.label,
          ...(principal.kind === "agent" ? { agentId: principal.agentId } : {}),
          ...(seen.session === undefined ? {} : { connectionId: seen.session.connectionId }),
          outcome: "failure", reason,
          details: seen.session === undefined ? {} : { session_id: seen.session.id, workspace_id: seen.session.workspaceId, chain: chainOf(seen.session.act).join(",") },
        });
        throw error;
      }
    },
  };
}

/** The value a static credential is used by: the strategy's named field, or the only one. */
function mainSecret(payload: CredentialPayload): string {
  const c = payload.strategy.config;
  const field = c.credential_field ?? c.password_field ?? c.secret_field;
  if (field !== undefined && payload.credentials[field] !== undefined) return payload.credentials[field];
  return Object.values(payload.credentials)[0] ?? "";
}
