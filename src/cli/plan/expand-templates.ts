import type { ProviderTemplate } from "../../../gen/nexus/broker/v1/provider_service_pb.ts";
import { type JsonObject as ProtoJsonObject, toJson } from "@bufbuild/protobuf";
import { ProviderProfileSchema } from "../../../gen/nexus/broker/v1/provider_service_pb.ts";
import { applyTemplate, type TemplateProfile } from "../../shared/apply-template.ts";
import type { BrokerAdmin } from "../broker-admin.ts";
import { ManifestError, type ManifestProblem } from "../manifest/manifest-error.ts";
import type { ManifestProvider, ResolvedManifest } from "../manifest/manifest-types.ts";
import { jsonPath, type PathSegment } from "../manifest/source-map.ts";

/**
 * The manifest with each provider's template applied, as the Broker applies
 * it (the same applyTemplate), so plan compares what the Broker would store.
 * The templates are the Broker's own (ListProviderTemplates), read only when
 * a provider names one. Throws a ManifestError locating every unknown
 * template and every missing or malformed template value.
 */
export async function expandTemplates(broker: BrokerAdmin, resolved: ResolvedManifest): Promise<ResolvedManifest> {
  if (!resolved.providers.some((p) => (p.entry.template ?? "") !== "")) return resolved;
  const { templates } = await broker.providers.listProviderTemplates({});
  const byName = new Map(templates.map((t) => [t.name, templateProfile(t)]));
  const problems: ManifestProblem[] = [];
  const problem = (path: PathSegment[], message: string) => {
    const at = resolved.source?.at(path) ?? { line: 1, col: 1 };
    problems.push({ ...at, path: jsonPath(path), message });
  };
  const providers = resolved.providers.map((p, i) => {
    const name = (p.entry.template ?? "").trim();
    if (name === "") return p;
    const template = byName.get(name);
    if (template === undefined) {
      problem(["providers", i, "template"], `the Broker has no template "${name}" (it has: ${[...byName.keys()].join(", ")})`);
      return p;
    }
    const applied = applyTemplate(p.entry as unknown as ProtoJsonObject, template);
    if (applied.ok) return { ...p, entry: applied.profile as unknown as ManifestProvider };
    // profile.template_values.tenant -> providers[i].template_values.tenant
    problem(["providers", i, ...applied.field.replace(/^profile\.?/, "").split(".").filter((s) => s !== "")], applied.message);
    return p;
  });
  if (problems.length > 0) throw new ManifestError(resolved.file, problems);
  return { ...resolved, providers };
}

function templateProfile(t: ProviderTemplate): TemplateProfile {
  const profile = t.profile === undefined ? {} : (toJson(ProviderProfileSchema, t.profile, { useProtoFieldName: true }) as ProtoJsonObject);
  return { name: t.name, profile, placeholders: t.placeholders.map((p) => ({ name: p.name, title: p.title, description: p.description, pattern: p.pattern, example: p.example })) };
}
