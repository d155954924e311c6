import { NexusError } from "../../shared/errors.ts";
import type { Handshake } from "../domain/connection.ts";
import type { AuditLog, ConnectionStore, ProviderStore, Sealer } from "../domain/ports.ts";
import { withQuery } from "../domain/return-url.ts";
import { sealedFields } from "../domain/sealed-fields.ts";
import { issuerRefusal } from "../oauth/authorization-response.ts";
import type { FetchLike } from "../oauth/fetch-with-timeout.ts";
import type { StateClaims, StateSigner } from "../oauth/handshake-state.ts";
import type { IdTokenVerifier } from "../oauth/id-token.ts";
import { knownQuirks } from "../oauth/quirks.ts";
import { exchangeToken } from "../oauth/token-endpoint.ts";
import { oauthSecret } from "./credential-payload.ts";
import type { EndpointResolver } from "./provider-endpoints.ts";

/** The provider's authorization response, as the browser brought it. */
export interface CallbackInput {
  readonly code: string;
  readonly state: string;
  readonly error: string;
  readonly errorDescription: string;
  readonly iss: string;
}

/**
 * Where the browser goes next: back to the application (success or a
 * failure it can show), or a plain page when the state cannot be trusted to
 * name an application.
 */
export type CallbackOutcome =
  | { readonly kind: "redirect"; readonly url: string; readonly connectionId: string; readonly ok: boolean }
  | { readonly kind: "page"; readonly reason: "state_missing" | "state_invalid" | "state_expired" | "state_replayed" | "invalid_argument"; readonly status: number };

/** The OAuth 2.0 redirect target. */
export interface CallbackService {
  complete(input: CallbackInput, signal?: AbortSignal): Promise<CallbackOutcome>;
}

/** What completing a consent uses. */
export interface CallbackServiceDeps {
  readonly states: Pick<StateSigner, "check">;
  readonly connections: Pick<ConnectionStore, "consumeHandshake" | "peekHandshake" | "get" | "fail" | "activate">;
  readonly providers: Pick<ProviderStore, "getById">;
  readonly endpoints: EndpointResolver;
  readonly idTokens: IdTokenVerifier;
  /** Opens the client secret and PKCE verifier; seals the tokens. */
  readonly sealer: Pick<Sealer, "openText" | "seal" | "activeKeyId">;
  /** Calls the provider's token endpoint. */
  readonly fetch: FetchLike;
  readonly audit: Pick<AuditLog, "recordNow">;
  readonly now: () => number;
  readonly settings: {
    /** Deadline of one call to a provider. */
    readonly providerTimeoutMs: number;
    readonly refreshMarginSeconds: number;
    /** A refresh is never due sooner than this after the last one. */
    readonly minRefreshIntervalSeconds: number;
  };
}

const providerErrorPattern = /^[a-z_]{1,64}$/;

/**
 * Completes a consent. The state is checked before anything else, and its
 * handshake is consumed atomically and only if it is an OAuth one, so a
 * replay or a double click exchanges the code at most once, and a capture
 * state presented here is refused without side effects. Every failure after that marks the connection failed
 * and sends the browser back to the application with `status=error`.
 */
export function createCallbackService(deps: CallbackServiceDeps): CallbackService {
  async function fail(handshake: Handshake, reason: string, details: Record<string, string | number> = {}): Promise<CallbackOutcome> {
    await deps.connections.fail(handshake.connectionId, reason);
    await deps.audit.recordNow({
      eventType: "callback.failed",
      connectionId: handshake.connectionId,
      providerId: handshake.providerId,
      outcome: "failure",
      reason,
      details,
    });
    return {
      kind: "redirect",
      ok: false,
      connectionId: handshake.connectionId,
      url: withQuery(handshake.returnUrl, { status: "error", error: reason, connection_id: handshake.connectionId }),
    };
  }

  async function rejectState(reason: "state_missing" | "state_invalid" | "state_replayed", claims?: StateClaims): Promise<CallbackOutcome> {
    await deps.audit.recordNow({
      eventType: "callback.failed",
      ...(claims === undefined ? {} : { connectionId: claims.connectionId, providerId: claims.providerId }),
      outcome: "failure",
      reason,
    });
    return { kind: "page", reason, status: 400 };
  }

  return {
    async complete(input, signal) {
      // RFC 6749 4.1.2: a response carries a code or an error, never both. Refused before
      // the state is used, so a forged URL cannot burn a user's handshake.
      if (input.code !== "" && input.error !== "") return { kind: "page", reason: "invalid_argument", status: 400 };
      const check = await deps.states.check(input.state);
      if (!check.ok) {
        if (check.reason !== "state_expired") return rejectState(check.reason);
        const handshake = await deps.connections.consumeHandshake(check.claims.handshakeId, "oauth2");
        return handshake === undefined ? { kind: "page", reason: "state_expired", status: 400 } : fail(handshake, "state_expired");
      }
      const { claims } = check;
      // Only an OAuth handshake is consumed here: a capture state brought to this page
      // (by mistake or on purpose) must leave the user's capture usable.
      const handshake = await deps.connections.consumeHandshake(claims.handshakeId, "oauth2");
      if (handshake === undefined) {
        const other = await deps.connections.peekHandshake(claims.handshakeId);
        return rejectState(other === undefined ? "state_replayed" : "state_invalid", claims);
      }
      if (handshake.connectionId !== claims.connectionId) return rejectState("state_invalid", claims);
      if (handshake.expired) return fail(handshake, "state_expired");
      if (input.error !== "") {
        // The provider's own code (access_denied, ...) is passed on; its description is never reflected.
        return fail(handshake, providerErrorPattern.test(input.error) ? input.error : "provider_error");
      }
      const issRefused = issuerRefusal(handshake, input.iss);
      if (issRefused !== undefined) return fail(handshake, issRefused);
      if (input.code === "") return fail(handshake, "invalid_request");
      const provider = await deps.providers.getById(handshake.providerId, { includeDeleted: true });
      if (provider === undefined || provider.deletedAt !== null) return fail(handshake, "provider_deleted");
      const connection = await deps.connections.get(handshake.connectionId);
      if (connection === undefined) return rejectState("state_invalid", claims);

      let endpoints;
      try {
        endpoints = await deps.endpoints.resolve(provider, signal);
      } catch (error) {
        if (error instanceof NexusError) return fail(handshake, error.reason === "provider_unavailable" ? "provider_unavailable" : "code_exchange_failed");
        throw error;
      }
      const clientSecret = provider.clientSecretCt === null
        ? ""
        : deps.sealer.openText(provider.clientSecretCt, { ...sealedFields.providerClientSecret, rowId: provider.id });
      const verifier = handshake.verifierCt === null
        ? undefined
        : deps.sealer.openText(handshake.verifierCt, { ...sealedFields.handshakeVerifier, rowId: handshake.id });
      const result = await exchangeToken(
        {
          tokenEndpoint: endpoints.tokenEndpoint,
          clientId: provider.clientId,
          clientSecret,
          authMethod: endpoints.authMethod,
          quirks: knownQuirks(provider.params.quirks),
          ...(provider.params.scopeSeparator === undefined ? {} : { scopeSeparator: provider.params.scopeSeparator }),
        },
        {
          type: "authorization_code",
          code: input.code,
          redirectUri: handshake.redirectUri,
          ...(verifier === undefined ? {} : { codeVerifier: verifier }),
          ...(provider.params.skipScopeOnExchange ? {} : { scopes: connection.scopes }),
        },
        {
          fetch: deps.fetch,
          now: deps.now,
          timeoutMs: deps.settings.providerTimeoutMs,
          keepTokenFields: provider.params.keepTokenFields,
          // A nonce was sent only with an issuer to check against: the answer must carry a matching ID token.
          ...(handshake.nonce === "" ? {} : { idToken: { issuer: endpoints.issuer, clientId: provider.clientId, nonce: handshake.nonce } }),
          ...(signal === undefined ? {} : { signal }),
        },
      );
      if (!result.ok) {
        const reason = result.kind === "transient" ? "provider_unavailable" : result.kind === "id_token_invalid" ? "id_token_invalid" : "code_exchange_failed";
        return fail(handshake, reason, { provider_error: result.error, http_status: result.status });
      }
      const tokens = result.tokens;
      if (handshake.nonce !== "") {
        if (tokens.idToken === undefined) return fail(handshake, "id_token_invalid", { check: "missing" });
        try {
          await deps.idTokens.verify(tokens.idToken, {
            issuer: endpoints.issuer,
            jwksUri: endpoints.jwksUri ?? "",
            clientId: provider.clientId,
            nonce: handshake.nonce,
            accessToken: tokens.accessToken,
          });
        } catch (error) {
          if (error instanceof NexusError) return fail(handshake, error.reason === "provider_unavailable" ? "provider_unavailable" : "id_token_invalid");
          throw error;
        }
      }
      const keyId = deps.sealer.activeKeyId;
      const rowId = handshake.connectionId;
      const activated = await deps.connections.activate(
        handshake.connectionId,
        {
          keyId,
          secretCt: deps.sealer.seal(oauthSecret(tokens), { ...sealedFields.credentialSecret, rowId }),
          refreshCt: tokens.refreshToken === undefined ? null : deps.sealer.seal(tokens.refreshToken, { ...sealedFields.credentialRefreshToken, rowId }),
          expiresInSeconds: tokens.expiresIn,
          refreshMarginSeconds: deps.settings.refreshMarginSeconds,
          minRefreshIntervalSeconds: deps.settings.minRefreshIntervalSeconds,
        },
        grantedScopes(tokens.scope, provider.params.scopeSeparator) ?? connection.scopes,
      );
      if (!activated) return rejectState("state_replayed", claims);
      await deps.audit.recordNow({
        eventType: "callback.succeeded",
        connectionId: handshake.connectionId,
        providerId: provider.id,
        providerName: provider.name,
        outcome: "success",
        details: { has_refresh_token: tokens.refreshToken !== undefined, expires_in: tokens.expiresIn ?? -1 },
      });
      return {
        kind: "redirect",
        ok: true,
        connectionId: handshake.connectionId,
        url: withQuery(handshake.returnUrl, { status: "success", connection_id: handshake.connectionId }),
      };
    },
  };
}

/** The scopes the provider says it granted; undefined when it did not say. */
function grantedScopes(scope: string | undefined, separator: string | undefined): string[] | undefined {
  if (scope === undefined || scope.trim() === "") return undefined;
  const parts = separator !== undefined && separator.trim() !== "" ? scope.split(separator) : scope.split(/\s+/);
  return [...new Set(parts.map((s) => s.trim()).filter((s) => s !== ""))];
}
