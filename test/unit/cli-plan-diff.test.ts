/**
 * The plan of `nexus plan`: a pure comparison of the manifest with the live
 * state, deterministic, comparing against what the Broker stores (defaults
 * filled in, URLs canonical), secrets by fingerprint only; its hash, its
 * renderings, and export's manifest planning "no changes" when fed back.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { stringify } from "yaml";
import { AgentSchema } from "../../gen/nexus/broker/v1/agent_service_pb.ts";
import { ProviderProfileSchema } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { defaultsFor } from "../../src/broker/domain/credential-schema.ts";
import { authTypes } from "../../src/broker/domain/provider.ts";
import type { ManifestAgent, ManifestProvider, ResolvedManifest } from "../../src/cli/manifest/manifest-types.ts";
import { parseManifest } from "../../src/cli/manifest/parse-manifest.ts";
import { staticDefaults } from "../../src/cli/plan/broker-defaults.ts";
import { computePlan, type Plan } from "../../src/cli/plan/compute-plan.ts";
import { desiredState } from "../../src/cli/plan/desired-state.ts";
import { exportManifest } from "../../src/cli/plan/export-manifest.ts";
import { liveAgent, liveProvider } from "../../src/cli/plan/live-state.ts";
import { planHash, planToJson } from "../../src/cli/plan/plan-json.ts";
import { renderPlanMarkdown, renderPlanText } from "../../src/cli/plan/render-plan.ts";
import type { LiveState } from "../../src/cli/plan/resource-state.ts";

const fingerprints = new Map([["secret-one", "fp-1"], ["secret-two", "fp-2"]]);
let ids = 0;
const id = () => `00000000-0000-4000-8000-${String(++ids).padStart(12, "0")}`;

/** A live provider as the API shows it: defaults filled in the Broker's way. */
function liveP(profile: Parameters<typeof create<typeof ProviderProfileSchema>>[1], version = 3n) {
  return liveProvider(create(ProviderProfileSchema, { id: id(), version, ...profile }));
}
function liveA(agent: Parameters<typeof create<typeof AgentSchema>>[1], version = 2n) {
  return liveAgent(create(AgentSchema, { id: id(), version, ...agent }));
}
function resolved(providers: (ManifestProvider & { secret?: string })[], agents: ManifestAgent[] = []): ResolvedManifest {
  return {
    file: "m.yaml",
    providers: providers.map(({ secret, ...entry }) => (secret === undefined ? { entry } : { entry, clientSecret: secret })),
    agents: agents.map((entry) => ({ entry, jwks: typeof entry.jwks === "object" ? entry.jwks : null })),
    secrets: providers.flatMap((p) => (p.secret === undefined ? [] : [p.secret])),
  };
}
const plan = (m: ResolvedManifest, live: LiveState, prune = false): Plan => computePlan({ desired: desiredState(m), live, fingerprints, prune });

const crm: ManifestProvider & { secret: string } = {
  name: "crm", auth_type: "oauth2", client_id: "c1", secret: "secret-one", auth_url: "https://crm.example", token_url: "https://crm.example/token",
  scopes: ["read", "read", "write"],
};
const liveCrm = () => liveP({
  name: "crm", authType: "oauth2", clientId: "c1", hasClientSecret: true, clientSecretFingerprint: "fp-1",
  authUrl: "https://crm.example/", tokenUrl: "https://crm.example/token", scopes: ["read", "write"], params: { tokenEndpointAuthMethod: "" },
});

describe("staticDefaults()", () => {
  it("matches the Broker's defaultsFor() for every auth type", () => {
    for (const type of authTypes) {
      const broker = defaultsFor(type);
      assert.deepEqual(staticDefaults(type), { schema: broker.schema ?? null, strategy: broker.strategy ?? null }, type);
    }
  });
});

describe("computePlan()", () => {
  it("plans no changes when the Broker holds what the manifest says, in the Broker's normal form", () => {
    const keyed = liveP({ name: "keyed", authType: "api_key", params: { credentialSchema: staticDefaults("api_key").schema as never, authStrategy: { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } } } });
    const p = plan(resolved([crm, { name: "keyed", auth_type: "api_key" }], [{ name: "bot", allowed_providers: ["CRM"] }]), {
      providers: [liveCrm(), keyed], agents: [liveA({ name: "bot", allowedProviders: ["crm"] })],
    });
    assert.deepEqual(p, { changes: [], orphans: [], summary: { create: 0, update: 0, delete: 0 } });
  });

  it("lists creates in manifest order, then updates with old and new values, then deletes by name with prune", () => {
    const live: LiveState = {
      providers: [liveP({ name: "zeta", authType: "api_key" }, 7n), liveCrm(), liveP({ name: "alpha", authType: "api_key" }, 5n)],
      agents: [liveA({ name: "old-bot" }, 4n), liveA({ name: "bot", description: "before" })],
    };
    const m = resolved([{ name: "new-b", auth_type: "basic_auth" }, { ...crm, description: "CRM", secret: "secret-two" }, { name: "new-a", auth_type: "oauth2", client_id: "x", secret: "secret-one" }],
      [{ name: "bot", description: "after" }, { name: "fresh", allowed_providers: ["crm"] }]);
    const p = plan(m, live, true);
    assert.deepEqual(p.changes.map((c) => `${c.action} ${c.kind} ${c.name}${c.version === undefined ? "" : ` v${c.version}`}`), [
      "create provider new-b", "create provider new-a", "create agent fresh",
      "update provider crm v3", "update agent bot v2",
      "delete provider alpha v5", "delete provider zeta v7", "delete agent old-bot v4",
    ]);
    assert.deepEqual(p.changes[3]!.fields, [
      { field: "description", old: "", new: "CRM" },
      { field: "client_secret", secret: "changed", fingerprint: "fp-2" },
    ]);
    assert.deepEqual(p.changes[1]!.fields, [
      { field: "auth_type", new: "oauth2" }, { field: "client_id", new: "x" }, { field: "client_secret", secret: "set", fingerprint: "fp-1" },
    ]);
    assert.deepEqual(p.changes[0]!.fields, [{ field: "auth_type", new: "basic_auth" }], "a static provider's defaults are not changes");
    assert.deepEqual(p.summary, { create: 3, update: 2, delete: 3 });
    assert.deepEqual(plan(m, live, false).orphans, [
      { kind: "provider", name: "alpha" }, { kind: "provider", name: "zeta" }, { kind: "agent", name: "old-bot" },
    ]);
  });

  it("shows each changed param, and a secret set where none was stored", () => {
    const live = { providers: [liveP({ name: "crm", authType: "oauth2", clientId: "c1", authUrl: "https://crm.example/", tokenUrl: "https://crm.example/token", scopes: ["read", "write"] })], agents: [] };
    const p = plan(resolved([{ ...crm, params: { pkce: false, authorize_params: { prompt: "consent" } } }]), live);
    assert.deepEqual(p.changes[0]!.fields, [
      { field: "params.authorize_params", old: {}, new: { prompt: "consent" } },
      { field: "params.pkce", old: true, new: false },
      { field: "client_secret", secret: "set", fingerprint: "fp-1" },
    ]);
  });

  it("is deterministic: the same input gives the same plan and hash", async () => {
    const live = { providers: [liveP({ name: "z", authType: "api_key" })], agents: [] };
    const input = () => plan(resolved([crm, { name: "b", auth_type: "api_key" }]), live, true);
    assert.equal(await planHash(input()), await planHash(input()));
    assert.match(await planHash(input()), /^[0-9a-f]{64}$/);
  });
});

describe("plan output", () => {
  const p = plan(resolved([{ ...crm, description: "new", secret: "secret-two" }, { name: "b", auth_type: "api_key" }]), {
    providers: [liveCrm(), liveP({ name: "gone", authType: "api_key" })], agents: [],
  });

  it("planHash() changes with the new secret's fingerprint; --json shows neither", async () => {
    const other = computePlan({ desired: desiredState(resolved([{ ...crm, description: "new", secret: "secret-two" }, { name: "b", auth_type: "api_key" }])), live: { providers: [liveCrm(), liveP({ name: "gone", authType: "api_key" })], agents: [] }, fingerprints: new Map([...fingerprints, ["secret-two", "fp-other"]]), prune: false });
    const hash = await planHash(p);
    assert.notEqual(await planHash(other), hash);
    const json = JSON.stringify(planToJson(p, hash));
    assert.doesNotMatch(json, /fp-2|secret-two/);
    assert.deepEqual(Object.keys(planToJson(p, hash)), ["changes", "orphans", "summary", "plan_hash"]);
  });

  it("renderPlanText() says what changes, never the secret", () => {
    const text = renderPlanText(p, "h".repeat(64), { file: "m.yaml", brokerUrl: "http://broker" }, (_c, t) => t);
    assert.equal(text, [
      "Plan for m.yaml against the Broker at http://broker:", "",
      "  + create provider b", '      + auth_type: "api_key"',
      "  ~ update provider crm", '      ~ description: "" -> "new"', "      ~ client_secret changed (write-only; value not shown)",
      "  ! orphan provider gone: not in the manifest; --prune would delete it", "",
      "Plan: 1 to create, 1 to update, 0 to delete.", `Plan hash: ${"h".repeat(64)}`, "",
    ].join("\n"));
  });

  it("renderPlanMarkdown() puts the plan in a diff block a value cannot break out of", () => {
    const sneaky = plan(resolved([{ name: "b", auth_type: "api_key", description: "```\n# injected" }]), { providers: [], agents: [] });
    const md = renderPlanMarkdown(sneaky, "abc", "m.yaml");
    assert.match(md, /^### Nexus plan: 1 to create, 0 to update, 0 to delete\n/);
    assert.match(md, /\n````diff\n\+ create provider b\n/);
    assert.match(md, /Plan hash: `abc`\n$/);
  });
});

describe("exportManifest()", () => {
  it("writes what plans no changes when fed back, secrets as references named after the provider", () => {
    const live: LiveState = {
      providers: [
        liveP({ name: "crm-eu", authType: "oauth2", clientId: "c1", hasClientSecret: true, clientSecretFingerprint: "fp-1", issuer: "https://id.example", enableDiscovery: true, params: { pkce: false, scopeSeparator: "," }, aliases: ["crm"] }),
        liveP({ name: "keyed", authType: "header", description: "d", params: { credentialSchema: staticDefaults("header").schema as never, authStrategy: { type: "header", config: { header_name: "Authorization", value_prefix: "Bearer ", credential_field: "api_key" } } } }),
      ],
      agents: [liveA({ name: "bot", allowedProviders: ["crm-eu"], jwks: { keys: [{ kty: "OKP", crv: "Ed25519", x: "abc", kid: "k" }] } as never })],
    };
    const { manifest, variables } = exportManifest(live);
    assert.deepEqual(variables, [{ name: "NEXUS_CRM_EU_CLIENT_SECRET", provider: "crm-eu" }]);
    const text = stringify(manifest, { lineWidth: 0 });
    assert.match(text, /client_secret: \$\{env:NEXUS_CRM_EU_CLIENT_SECRET\}/);
    const parsed = parseManifest(text, "exported.yaml").manifest;
    const back: ResolvedManifest = {
      file: "exported.yaml",
      providers: (parsed.providers ?? []).map((entry) => (entry.client_secret === undefined ? { entry } : { entry, clientSecret: "secret-one" })),
      agents: (parsed.agents ?? []).map((entry) => ({ entry, jwks: typeof entry.jwks === "object" ? entry.jwks : null })),
      secrets: ["secret-one"],
    };
    assert.deepEqual(computePlan({ desired: desiredState(back), live, fingerprints, prune: true }).changes, []);
    assert.deepEqual(Object.keys(parsed.providers![1]!), ["name", "auth_type", "description"], "defaults are left out");
  });
});
