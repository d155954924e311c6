import { invalidArgument, NexusError } from "../../shared/errors.ts";
import type { PatternEngine } from "../domain/credential-schema.ts";
import { inputLimits, parseProviderName, parseUuid } from "../../shared/input-rules.ts";
import type { AuditLog, ConnectionStore, ProviderStore, ProviderWrite, Sealer } from "../domain/ports.ts";
import { authTypeImmutable, type Provider } from "../domain/provider.ts";
import { sealedFields } from "../domain/sealed-fields.ts";
import type { ProviderTemplate, TemplateCatalogue } from "../templates/template-catalogue.ts";
import type { ProviderDraft, ValidDraft } from "./provider-validation.ts";
import { validateDraft } from "./provider-validation.ts";
import type { EndpointResolver } from "./provider-endpoints.ts";

/** Use cases of the provider registry. */
export interface ProviderService {
  create(draft: ProviderDraft, caller: string, signal?: AbortSignal): Promise<Provider>;
  /** Live providers, newest first. */
  list(): Promise<Provider[]>;
  get(id: string): Promise<Provider>;
  /** By name or alias, case-insensitive. */
  getByName(name: string): Promise<Provider>;
  /**
   * Replaces a provider. With `expectedVersion` the write only happens if no
   * one changed the provider since it was read (a PATCH's read-modify-write).
   * The auth type is fixed once any connection uses the provider
   * (auth_type_immutable): its stored credentials are of that type.
   */
  update(id: string, draft: ProviderDraft, caller: string, options?: { signal?: AbortSignal; expectedVersion?: bigint; changed?: readonly string[] }): Promise<Provider>;
  /** Soft delete: no new consents; existing connections keep working. With `expectedVersion`, only if unchanged. */
  remove(id: string, caller: string, expectedVersion?: bigint): Promise<void>;
  /** The keyed fingerprint of a provider's stored client secret ("" when it has none). */
  secretFingerprint(provider: Provider): string;
  /** Keyed fingerprints of candidate secrets, comparable with {@linkcode ProviderService.secretFingerprint}. */
  fingerprintSecrets(secrets: readonly string[]): string[];
  /** The provider templates the Broker ships, by name. */
  listTemplates(): readonly ProviderTemplate[];
  /** One template; invalid_argument (field `profile.template`) naming the known ones when there is none. */
  getTemplate(name: string): ProviderTemplate;
}

/** What the provider registry uses. */
export interface ProviderServiceDeps {
  readonly providers: ProviderStore;
  /** Asked whether any connection uses a provider before its auth type changes. */
  readonly connections: Pick<ConnectionStore, "list">;
  /** Runs discovery at registration. */
  readonly endpoints: EndpointResolver;
  readonly sealer: Sealer;
  /** Runs credential_schema patterns in linear time. */
  readonly patterns: PatternEngine;
  readonly audit: Pick<AuditLog, "recordNow">;
  /** The provider templates, checked when the Broker started. */
  readonly templates: TemplateCatalogue;
  readonly randomUUID: () => string;
  readonly settings: {
    /** Accept http provider URLs on loopback hosts (development and tests only). */
    readonly allowHttpLoopback: boolean;
  };
}

/** Creates the provider registry. */
export function createProviderService(deps: ProviderServiceDeps): ProviderService {
  const settings = { allowHttpLoopback: deps.settings.allowHttpLoopback, patterns: deps.patterns };

  /** Discovery runs at registration, so a broken issuer is an error now rather than at the first consent. */
  async function checkReachable(d: ValidDraft, id: string, signal?: AbortSignal): Promise<void> {
    if (d.authType !== "oauth2" || d.issuer === "") return;
    const probe = { ...toProvider(d, id), clientSecretCt: null, keyId: null } satisfies Provider;
    await deps.endpoints.resolve(probe, signal);
  }

  async function assertNamesFree(d: ValidDraft, id: string): Promise<void> {
    for (const n of [d.name, ...d.aliases]) {
      const other = await deps.providers.getByName(n);
      if (other !== undefined && other.id !== id) {
        throw new NexusError("name_taken", `"${n}" is already the name or an alias of provider "${other.name}"`, { field: n === d.name ? "profile.name" : "profile.aliases" });
      }
    }
  }

  function write(d: ValidDraft, id: string): ProviderWrite {
    return {
      ...d,
      clientSecret: d.clientSecret === ""
        ? (d.authType === "oauth2" ? undefined : null)
        : { ciphertext: deps.sealer.seal(d.clientSecret, { ...sealedFields.providerClientSecret, rowId: id }), keyId: deps.sealer.activeKeyId },
    };
  }

  async function mustGet(id: string): Promise<Provider> {
    const provider = await deps.providers.getById(parseUuid(id, "id"));
    if (provider === undefined) throw new NexusError("provider_not_found", `no provider ${id}`, { field: "id" });
    return provider;
  }

  return {
    async create(draft, caller, signal) {
      const d = validateDraft(draft, { hasStoredSecret: false, ...settings });
      const id = deps.randomUUID();
      await assertNamesFree(d, id);
      await checkReachable(d, id, signal);
      const provider = await deps.providers.create(id, write(d, id));
      await deps.audit.recordNow({ eventType: "provider.created", providerId: id, providerName: d.name, caller, outcome: "success", details: { auth_type: d.authType } });
      return provider;
    },
    list: () => deps.providers.list(),
    get: mustGet,
    async getByName(name) {
      const provider = await deps.providers.getByName(parseProviderName(name, "name"));
      if (provider === undefined) throw new NexusError("provider_not_found", `no provider named ${JSON.stringify(name)}`, { field: "name" });
      return provider;
    },
    async update(id, draft, caller, options = {}) {
      const current = await mustGet(id);
      if (options.expectedVersion !== undefined && options.expectedVersion !== current.version) {
        throw new NexusError("concurrent_change", "the provider changed while this update was prepared; read it again and retry");
      }
      // Checked before the draft, whose other errors (client_id is only for oauth2, ...) would hide
      // this one; the repository checks again under a lock, closing the race with a new connection.
      if (draft.authType !== current.authType && (await deps.connections.list({ providerId: current.id, limit: 1 })).length > 0) {
        throw authTypeImmutable(current.authType, draft.authType);
      }
      const d = validateDraft(draft, { hasStoredSecret: current.clientSecretCt !== null, ...settings });
      await assertNamesFree(d, current.id);
      await checkReachable(d, current.id, options.signal);
      const updated = await deps.providers.replace(current.id, current.version, write(d, current.id));
      if (updated === undefined) throw new NexusError("concurrent_change", "the provider changed while this update was prepared; read it again and retry");
      await deps.audit.recordNow({
        eventType: "provider.updated", providerId: current.id, providerName: d.name, caller, outcome: "success",
        details: { fields: (options.changed ?? ["*"]).join(",").slice(0, 500), secret_replaced: draft.clientSecret !== "" },
      });
      return updated;
    },
    async remove(id, caller, expectedVersion) {
      const current = await mustGet(id);
      if (expectedVersion !== undefined && expectedVersion !== current.version) {
        throw new NexusError("concurrent_change", "the provider changed since it was read; read it again and retry");
      }
      if (!(await deps.providers.softDelete(current.id))) throw new NexusError("provider_not_found", `no provider ${id}`, { field: "id" });
      await deps.audit.recordNow({ eventType: "provider.deleted", providerId: current.id, providerName: current.name, caller, outcome: "success" });
    },
    secretFingerprint(provider) {
      if (provider.clientSecretCt === null) return "";
      return deps.sealer.fingerprint(deps.sealer.openText(provider.clientSecretCt, { ...sealedFields.providerClientSecret, rowId: provider.id }));
    },
    fingerprintSecrets(secrets) {
      if (secrets.length > inputLimits.fingerprintSecrets) throw invalidArgument("secrets", `holds more than ${inputLimits.fingerprintSecrets} values`);
      return secrets.map((secret) => deps.sealer.fingerprint(secret));
    },
    listTemplates: () => deps.templates.list(),
    getTemplate(name) {
      const template = deps.templates.get(name);
      if (template === undefined) {
        const known = deps.templates.list().map((t) => t.name).join(", ");
        throw invalidArgument("profile.template", `no template is named ${JSON.stringify(name.slice(0, 64))} (GET /provider-templates lists them: ${known})`);
      }
      return template;
    },
  };
}

function toProvider(d: ValidDraft, id: string): Omit<Provider, "clientSecretCt" | "keyId"> {
  const at = new Date(0);
  return { ...d, id, createdAt: at, updatedAt: at, deletedAt: null, version: 0n };
}
