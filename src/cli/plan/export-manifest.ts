import type { Json, JsonObject } from "../manifest/manifest-types.ts";
import { sameJson } from "./canonical-json.ts";
import { agentFieldsOf, providerFieldsOf } from "./desired-state.ts";
import { agentFields, type LiveAgent, type LiveProvider, type LiveState, providerFields } from "./resource-state.ts";

/** An environment variable an exported manifest reads a client secret from. */
export interface SecretVariable {
  readonly name: string;
  readonly provider: string;
}

/**
 * The live state as a version 1 manifest that plans "no changes" when fed
 * back: only what differs from the Broker's defaults is written, oldest
 * resources first (the order a fresh Broker would create them in), client
 * secrets as `${env:...}` references named after their provider.
 */
export function exportManifest(live: LiveState): { manifest: JsonObject; variables: SecretVariable[] } {
  const variables: SecretVariable[] = [];
  const providers = oldestFirst(live.providers).map((p) => {
    const variable = p.hasClientSecret ? secretVariable(p.name) : undefined;
    if (variable !== undefined) variables.push({ name: variable, provider: p.name });
    return providerEntry(p, variable);
  });
  return { manifest: { version: 1, providers, agents: oldestFirst(live.agents).map(agentEntry) }, variables };
}

/** `NEXUS_<NAME IN UPPER SNAKE CASE>_CLIENT_SECRET`: provider names are kebab-case, so each gets its own. */
export function secretVariable(providerName: string): string {
  return `NEXUS_${providerName.toUpperCase().replaceAll("-", "_")}_CLIENT_SECRET`;
}

function providerEntry(p: LiveProvider, variable: string | undefined): JsonObject {
  const bare = providerFieldsOf({ name: p.name, auth_type: String(p.fields.auth_type) });
  const differs = new Set(providerFields.filter((f) => !sameJson(p.fields[f], bare[f])));
  const entry: JsonObject = { name: p.name, auth_type: p.fields.auth_type };
  const params: JsonObject = {};
  for (const field of providerFields) {
    if (field === "auth_type" || !differs.has(field)) continue;
    if (field.startsWith("params.")) params[field.slice("params.".length)] = p.fields[field];
    else entry[field] = p.fields[field];
    // Keep the schema's order: the secret right after the client id.
    if (field === "client_id" && variable !== undefined) entry.client_secret = `\${env:${variable}}`;
  }
  if (variable !== undefined && !("client_secret" in entry)) entry.client_secret = `\${env:${variable}}`;
  return Object.keys(params).length === 0 ? entry : withParams(entry, params);
}

/** Puts params where the schema has it: after scopes, before description. */
function withParams(entry: JsonObject, params: JsonObject): JsonObject {
  const after = new Set(["description", "category", "api_base_url", "user_info_endpoint", "aliases"]);
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(entry)) {
    if (after.has(key) && !("params" in out)) out.params = params;
    out[key] = value;
  }
  if (!("params" in out)) out.params = params;
  return out;
}

function agentEntry(a: LiveAgent): JsonObject {
  const bare = agentFieldsOf({ name: a.name }, null);
  const entry: JsonObject = { name: a.name };
  for (const field of agentFields) {
    if (!sameJson(a.fields[field], bare[field])) entry[field] = a.fields[field] as Json;
  }
  return entry;
}

function oldestFirst<T extends { readonly createdAt: number; readonly name: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
