import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { ProviderService as ProviderServiceDesc } from "../../../gen/nexus/broker/v1/provider_service_pb.ts";
import type { Provider } from "../domain/provider.ts";
import type { ProviderService } from "../services/provider-service.ts";
import { callerOf } from "./caller.ts";
import { applyPatch, draftFromProto, providerToDraft, providerToProto } from "./provider-mapping.ts";
import { profileWithTemplate, templateToProto } from "./template-mapping.ts";

/**
 * The ProviderService RPCs: proto in, proto out. Errors are mapped by the
 * error interceptor. `redirectUri` (BASE_URL/auth/callback) goes into the
 * templates' setup notes.
 */
export function createProviderHandlers(providers: ProviderService, options: { readonly redirectUri: string }): ServiceImpl<typeof ProviderServiceDesc> {
  const toProto = (p: Provider) => providerToProto(p, providers.secretFingerprint(p));
  const expected = (version: bigint) => (version === 0n ? {} : { expectedVersion: version });
  return {
    async createProvider(req, ctx: HandlerContext) {
      const p = await providers.create(draftFromProto(profileWithTemplate(req.profile, providers)), callerOf(ctx), ctx.signal);
      ctx.responseHeader.set("x-http-code", "201");
      ctx.responseHeader.set("location", `/providers/${p.id}`);
      return { id: p.id, name: p.name };
    },
    async listProviders() {
      return { providers: (await providers.list()).map(toProto) };
    },
    async getProvider(req) {
      return { provider: toProto(await providers.get(req.id)) };
    },
    async getProviderByName(req) {
      return { provider: toProto(await providers.getByName(req.name)) };
    },
    async updateProvider(req, ctx) {
      const profile = profileWithTemplate(req.profile, providers);
      const p = await providers.update(req.id, draftFromProto(profile), callerOf(ctx), { signal: ctx.signal, ...expected(req.expectedVersion) });
      return { provider: toProto(p) };
    },
    async patchProvider(req, ctx) {
      const current = await providers.get(req.id);
      const paths = req.updateMask?.paths ?? [];
      const patch = draftFromProto(req.profile);
      const next = applyPatch(providerToDraft(current), patch, paths);
      // The caller's expected version, or the one this read-modify-write started from.
      const expectedVersion = req.expectedVersion !== 0n ? req.expectedVersion : current.version;
      const p = await providers.update(req.id, next, callerOf(ctx), { signal: ctx.signal, expectedVersion, changed: paths });
      return { provider: toProto(p) };
    },
    async deleteProvider(req, ctx) {
      await providers.remove(req.id, callerOf(ctx), req.expectedVersion === 0n ? undefined : req.expectedVersion);
      return {};
    },
    async fingerprintSecrets(req) {
      return { fingerprints: providers.fingerprintSecrets(req.secrets) };
    },
    async listProviderTemplates() {
      return { templates: providers.listTemplates().map((t) => templateToProto(t, options.redirectUri)) };
    },
  };
}
