import { invalidArgument, NexusError } from "../../shared/errors.ts";
import { handshakeLifetimeSeconds } from "../domain/connection.ts";
import { parseProviderName, parseScopes, parseUuid, parseWorkspaceId } from "../../shared/input-rules.ts";
import type { AuditLog, ConnectionStore, ProviderStore, Sealer } from "../domain/ports.ts";
import { assertMayConnect, auditCaller, type Principal } from "../domain/principal.ts";
import type { Provider } from "../domain/provider.ts";
import { checkReturnUrl } from "../domain/return-url.ts";
import { sealedFields } from "../domain/sealed-fields.ts";
import { buildAuthorizationUrl } from "../oauth/authorization-url.ts";
import type { StateSigner } from "../oauth/handshake-state.ts";
import { createPkce, randomToken } from "../oauth/pkce.ts";
import type { EndpointResolver } from "./provider-endpoints.ts";

/** What a caller asks to connect. */
export interface StartInput {
  readonly workspaceId: string;
  readonly providerId: string;
  readonly providerName: string;
  readonly scopes: readonly string[];
  readonly returnUrl: string;
  /** Who asked: recorded on the connection (a registered agent alone may then use it) and in the audit log. */
  readonly principal: Principal;
}

/** A started handshake: where to send the user. */
export interface StartResult {
  readonly connectionId: string;
  readonly authUrl: string;
  readonly state: string;
  readonly providerId: string;
  readonly providerName: string;
  readonly scopes: readonly string[];
  /** Unix seconds. */
  readonly expiresAt: number;
}

/** Starting connections. */
export interface HandshakeService {
  start(input: StartInput, signal?: AbortSignal): Promise<StartResult>;
}

/** What starting a connection uses. */
export interface HandshakeServiceDeps {
  readonly providers: Pick<ProviderStore, "getById" | "getByName">;
  readonly connections: Pick<ConnectionStore, "start">;
  readonly states: Pick<StateSigner, "sign">;
  readonly endpoints: EndpointResolver;
  /** Seals the PKCE verifier. */
  readonly sealer: Pick<Sealer, "seal" | "activeKeyId">;
  readonly audit: Pick<AuditLog, "record">;
  readonly now: () => number;
  readonly randomUUID: () => string;
  readonly settings: {
    /** `BASE_URL/auth/callback`. */
    readonly redirectUri: string;
    /** `BASE_URL/auth/capture`: the page that collects static credentials. */
    readonly capturePageUrl: string;
    readonly allowedReturnDomains: readonly string[];
  };
}

/**
 * Starts a connection: a pending connection and its single-use handshake,
 * written together, and the URL the user's browser opens. OAuth 2.0 providers
 * get PKCE (S256, unless the provider opts out), a nonce when `openid` is asked
 * for and ID tokens can be verified, and the provider's default scopes when
 * the request names none. Static providers get the capture page instead.
 */
export function createHandshakeService(deps: HandshakeServiceDeps): HandshakeService {
  return {
    async start(input, signal) {
      const workspaceId = parseWorkspaceId(input.workspaceId);
      const provider = await findProvider(deps, input.providerId, input.providerName);
      assertMayConnect(input.principal, provider);
      const who = auditCaller(input.principal);
      const returnUrl = checkReturnUrl(input.returnUrl, deps.settings.allowedReturnDomains).href;
      const scopes = parseScopes(input.scopes.length > 0 ? input.scopes : provider.scopes);
      const connectionId = deps.randomUUID();
      const handshakeId = deps.randomUUID();
      const state = await deps.states.sign({ handshakeId, connectionId, providerId: provider.id }, handshakeLifetimeSeconds);
      const connection = { id: connectionId, workspaceId, providerId: provider.id, scopes, returnUrl, createdBy: who.caller, agentId: who.agentId ?? null };
      let authUrl: string;
      if (provider.authType === "oauth2") {
        const endpoints = await deps.endpoints.resolve(provider, signal);
        const pkce = provider.params.pkce ? await createPkce() : undefined;
        const nonce = scopes.includes("openid") && endpoints.jwksUri !== undefined ? randomToken() : "";
        authUrl = buildAuthorizationUrl({
          authorizationEndpoint: endpoints.authorizationEndpoint,
          clientId: provider.clientId,
          redirectUri: deps.settings.redirectUri,
          scopes,
          ...(provider.params.scopeSeparator === undefined ? {} : { scopeSeparator: provider.params.scopeSeparator }),
          skipScope: provider.params.skipScopeOnAuthorize,
          state,
          ...(pkce === undefined ? {} : { codeChallenge: pkce.challenge }),
          ...(nonce === "" ? {} : { nonce }),
          extraParams: provider.params.authorizeParams,
        });
        const verifier = pkce === undefined
          ? null
          : { ciphertext: deps.sealer.seal(pkce.verifier, { ...sealedFields.handshakeVerifier, rowId: handshakeId }), keyId: deps.sealer.activeKeyId };
        await deps.connections.start({
          connection,
          handshake: { id: handshakeId, kind: "oauth2", verifier, nonce, issuer: endpoints.issuer, issRequired: endpoints.issRequired, redirectUri: deps.settings.redirectUri },
          lifetimeSeconds: handshakeLifetimeSeconds,
        });
      } else {
        const url = new URL(deps.settings.capturePageUrl);
        url.searchParams.set("state", state);
        authUrl = url.href;
        await deps.connections.start({
          connection,
          handshake: { id: handshakeId, kind: "capture", verifier: null, nonce: "", issuer: "", issRequired: false, redirectUri: "" },
          lifetimeSeconds: handshakeLifetimeSeconds,
        });
      }
      deps.audit.record({
        eventType: "connection.started",
        connectionId,
        providerId: provider.id,
        providerName: provider.name,
        ...who,
        outcome: "success",
        details: { auth_type: provider.authType, scope_count: scopes.length },
      });
      return {
        connectionId,
        authUrl,
        state,
        providerId: provider.id,
        providerName: provider.name,
        scopes,
        expiresAt: Math.floor(deps.now() / 1000) + handshakeLifetimeSeconds,
      };
    },
  };
}

/** The provider a new connection is for: live, by id or by name (or alias). */
async function findProvider(deps: Pick<HandshakeServiceDeps, "providers">, providerId: string, providerName: string): Promise<Provider> {
  if (providerId === "" && providerName === "") throw invalidArgument("provider_name", "give provider_name or provider_id");
  let provider: Provider | undefined;
  if (providerId !== "") {
    const id = parseUuid(providerId, "provider_id");
    provider = await deps.providers.getById(id, { includeDeleted: true });
    if (provider?.deletedAt !== null && provider !== undefined) {
      throw new NexusError("provider_deleted", `provider "${provider.name}" was deleted; it takes no new connections`);
    }
  } else {
    provider = await deps.providers.getByName(parseProviderName(providerName));
  }
  if (provider === undefined) {
    throw new NexusError("provider_not_found", `no provider named ${JSON.stringify(providerName || providerId)}`, {
      field: providerId !== "" ? "provider_id" : "provider_name",
    });
  }
  const asked = providerName === "" ? "" : parseProviderName(providerName);
  if (providerId !== "" && asked !== "" && provider.name !== asked && !provider.aliases.includes(asked)) {
    throw invalidArgument("provider_name", "names another provider than provider_id");
  }
  return provider;
}
