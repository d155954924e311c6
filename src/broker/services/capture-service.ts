import { NexusError } from "../../shared/errors.ts";
import type { Handshake } from "../domain/connection.ts";
import { defaultsFor, type PatternEngine, validateCredentials } from "../domain/credential-schema.ts";
import type { AuditLog, BrokerMetrics, ConnectionStore, ProviderStore, Sealer } from "../domain/ports.ts";
import type { JsonObject, Provider, Strategy } from "../domain/provider.ts";
import { withQuery } from "../domain/return-url.ts";
import { sealedFields } from "../domain/sealed-fields.ts";
import type { FetchLike } from "../oauth/fetch-with-timeout.ts";
import { type StateSigner, stateError } from "../oauth/handshake-state.ts";
import { checkCredentialLive, type CredentialCheckDeps } from "./credential-check.ts";

/** What a static provider's capture form collects. */
export interface CaptureForm {
  readonly providerName: string;
  readonly providerDescription: string;
  readonly schema: JsonObject;
  /** Origin of the return URL: the form's submission ends in a redirect there. */
  readonly returnOrigin: string;
}

/** The outcome of a capture. */
export interface CaptureResult {
  readonly connectionId: string;
  readonly status: "active";
  /** The return URL with status=success and the connection id. */
  readonly redirectUrl: string;
}

/** Capturing static credentials (API keys, basic auth, ...) for pending connections. */
export interface CaptureService {
  /** The form for the pending connection the state names; does not use the state up. */
  form(state: string): Promise<CaptureForm>;
  /**
   * Validates the credential against the provider's schema (and its API when
   * it can be checked), then stores it and activates the connection, using
   * the state up. Invalid input leaves the state usable, so the user can fix
   * a typo.
   */
  capture(state: string, credentials: Readonly<Record<string, string>>, caller: string, signal?: AbortSignal): Promise<CaptureResult>;
}

/** What the capture service uses. */
export interface CaptureServiceDeps {
  readonly states: Pick<StateSigner, "check">;
  readonly connections: Pick<ConnectionStore, "peekHandshake" | "consumeHandshake" | "activate">;
  readonly providers: Pick<ProviderStore, "getById">;
  /** Runs credential_schema patterns in linear time. */
  readonly patterns: PatternEngine;
  readonly sealer: Pick<Sealer, "seal" | "activeKeyId">;
  /** Reaches the provider's API for the live check. */
  readonly fetch: FetchLike;
  readonly audit: AuditLog;
  readonly metrics: Pick<BrokerMetrics, "capture">;
  readonly settings: CredentialCheckDeps["settings"] & {
    readonly refreshMarginSeconds: number;
    /** A refresh is never due sooner than this after the last one. */
    readonly minRefreshIntervalSeconds: number;
  };
}

/** Creates the capture use cases. */
export function createCaptureService(deps: CaptureServiceDeps): CaptureService {
  async function pending(state: string): Promise<{ handshake: Handshake; provider: Provider; schema: JsonObject; strategy: Strategy }> {
    const check = await deps.states.check(state);
    if (!check.ok) throw stateError(check);
    const handshake = await deps.connections.peekHandshake(check.claims.handshakeId);
    if (handshake === undefined) throw new NexusError("state_replayed", "this link was already used; start the connection again");
    if (handshake.connectionId !== check.claims.connectionId) throw stateError({ ok: false, reason: "state_invalid" });
    if (handshake.kind !== "capture") {
      throw new NexusError("state_invalid", "this state belongs to an OAuth consent, not to a credential capture", { field: "state" });
    }
    if (handshake.expired) throw new NexusError("state_expired", "the handshake expired; start the connection again");
    const provider = await deps.providers.getById(handshake.providerId, { includeDeleted: true });
    if (provider === undefined || provider.deletedAt !== null) throw new NexusError("provider_deleted", "the provider was deleted");
    const defaults = defaultsFor(provider.authType);
    const schema = provider.params.credentialSchema ?? defaults.schema;
    const strategy = provider.params.authStrategy ?? defaults.strategy;
    if (schema === undefined || strategy === undefined) throw new NexusError("internal", `provider "${provider.name}" has no credential schema or strategy`);
    return { handshake, provider, schema, strategy };
  }

  return {
    async form(state) {
      const { provider, schema, handshake } = await pending(state);
      return { providerName: provider.name, providerDescription: provider.description, schema, returnOrigin: new URL(handshake.returnUrl).origin };
    },
    async capture(state, credentials, caller, signal) {
      let connectionId: string | undefined;
      let providerName = "";
      try {
        const { handshake, provider, schema, strategy } = await pending(state);
        connectionId = handshake.connectionId;
        providerName = provider.name;
        const clean = validateCredentials(schema, credentials, deps.patterns);
        const checked = await checkCredentialLive({ fetch: deps.fetch, settings: deps.settings }, provider, strategy, clean, signal);
        const consumed = await deps.connections.consumeHandshake(handshake.id, "capture");
        if (consumed === undefined) throw new NexusError("state_replayed", "this link was already used; start the connection again");
        const activated = await deps.connections.activate(connectionId, {
          keyId: deps.sealer.activeKeyId,
          secretCt: deps.sealer.seal(JSON.stringify(clean), { ...sealedFields.credentialSecret, rowId: connectionId }),
          refreshCt: null,
          expiresInSeconds: undefined,
          refreshMarginSeconds: deps.settings.refreshMarginSeconds,
          minRefreshIntervalSeconds: deps.settings.minRefreshIntervalSeconds,
        }, []);
        if (!activated) throw new NexusError("state_replayed", "the connection is no longer pending");
        deps.metrics.capture("success");
        await deps.audit.recordNow({
          eventType: "credential.captured", connectionId, providerId: provider.id, providerName, caller, outcome: "success",
          details: { fields: Object.keys(clean).length, live_check: checked },
        });
        return { connectionId, status: "active", redirectUrl: withQuery(handshake.returnUrl, { status: "success", connection_id: connectionId }) };
      } catch (error) {
        deps.metrics.capture("error");
        deps.audit.record({
          eventType: "credential.capture_failed", ...(connectionId === undefined ? {} : { connectionId }), providerName, caller,
          outcome: "failure", reason: error instanceof NexusError ? error.reason : "internal",
        });
        throw error;
      }
    },
  };
}
