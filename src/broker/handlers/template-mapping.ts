import { fromJson, type JsonObject, toJson } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import {
  type ProviderProfile, ProviderProfileSchema, type ProviderTemplate as ProviderTemplateProto, ProviderTemplateSchema,
} from "../../../gen/nexus/broker/v1/provider_service_pb.ts";
import { applyTemplate } from "../../shared/apply-template.ts";
import { invalidArgument } from "../../shared/errors.ts";
import type { ProviderService } from "../services/provider-service.ts";
import type { ProviderTemplate } from "../templates/template-catalogue.ts";

/**
 * A profile that names a template, made whole (see applyTemplate): the
 * template's settings with its placeholders filled, the caller's fields laid
 * over them. A profile without a template is returned as it is.
 */
export function profileWithTemplate(profile: ProviderProfile | undefined, providers: Pick<ProviderService, "getTemplate">): ProviderProfile | undefined {
  const name = profile?.template.trim().toLowerCase() ?? "";
  if (profile === undefined || name === "") return profile;
  const template = providers.getTemplate(name);
  const given = toJson(ProviderProfileSchema, profile, { useProtoFieldName: true }) as JsonObject;
  const applied = applyTemplate(given, template);
  if (!applied.ok) throw invalidArgument(applied.field, applied.message);
  return fromJson(ProviderProfileSchema, applied.profile);
}

/** A template as ListProviderTemplates answers it, with this Broker's redirect URI in its setup. */
export function templateToProto(t: ProviderTemplate, redirectUri: string): ProviderTemplateProto {
  const profile = fromJson(ProviderProfileSchema, t.profile);
  return create(ProviderTemplateSchema, {
    name: t.name,
    displayName: t.displayName,
    authType: profile.authType,
    scopes: profile.scopes,
    docsUrl: t.docsUrl,
    description: profile.description,
    category: profile.category,
    setup: {
      consoleUrl: t.setup.consoleUrl,
      redirectUri: profile.authType === "oauth2" ? redirectUri : "",
      steps: [...t.setup.steps],
      refresh: t.setup.refresh,
    },
    placeholders: t.placeholders.map((p) => ({ ...p })),
    profile,
    notes: t.notes.map((n) => ({ ...n })),
  });
}
