/**
 * The JSON Schema of a provider template file (providers/templates/*.json).
 * The quirk names come from the OAuth core's own lists, so a template can
 * name only an adapter that exists: schemas/provider-template.v1.schema.json
 * is written from this object by scripts/provider-templates.ts, never by hand.
 */
import { inputLimits, inputPatterns } from "../../shared/input-rules.ts";
import { builtInHandling, quirkNames } from "../oauth/quirks.ts";

const https = { type: "string", pattern: "^https://[^\\s]+$", maxLength: 500 } as const;
const sentence = { type: "string", minLength: 1, maxLength: 600 } as const;
const citation = {
  type: "object",
  additionalProperties: false,
  required: ["note", "source"],
  properties: {
    note: { ...sentence, description: "What the provider does, in a sentence." },
    source: { ...https, description: "The provider's public documentation that says so." },
  },
} as const;
const stringMap = { type: "object", additionalProperties: { type: "string", maxLength: 500 } } as const;

/** The provider profile part of a template: what a profile naming it starts from. */
const profile = {
  type: "object",
  additionalProperties: false,
  required: ["auth_type", "description", "category"],
  properties: {
    auth_type: { enum: ["oauth2", "api_key", "basic_auth", "header", "query_param", "hmac_payload", "aws_sigv4"] },
    description: sentence,
    category: { type: "string", pattern: "^[a-z]+(-[a-z]+)*$" },
    issuer: https,
    enable_discovery: { type: "boolean" },
    auth_url: https,
    token_url: https,
    revocation_url: https,
    scopes: { type: "array", items: { type: "string", pattern: inputPatterns.scope.source, maxLength: inputLimits.scopeLength }, uniqueItems: true },
    api_base_url: https,
    user_info_endpoint: { type: "string", pattern: "^(/|https://)[^\\s]*$" },
    params: {
      type: "object",
      additionalProperties: false,
      properties: {
        authorize_params: stringMap,
        token_endpoint_auth_method: { enum: ["client_secret_basic", "client_secret_post"] },
        scope_separator: { type: "string", minLength: 1, maxLength: 3 },
        pkce: { type: "boolean" },
        credential_schema: { type: "object" },
        auth_strategy: {
          type: "object",
          additionalProperties: false,
          required: ["type", "config"],
          properties: { type: { type: "string" }, config: stringMap },
        },
      },
    },
  },
} as const;

/** The schema every template file must satisfy (JSON Schema 2020-12). */
export const providerTemplateSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://nexus.dev/schemas/provider-template.v1.schema.json",
  title: "Nexus provider template, version 1",
  description: "A ready provider profile for a well-known service, kept in providers/templates/<name>.json. Every quirk, kept token field and unusual setting cites the provider's public documentation.",
  type: "object",
  additionalProperties: false,
  required: ["name", "display_name", "docs_url", "profile", "setup"],
  properties: {
    $schema: { type: "string" },
    name: { type: "string", pattern: inputPatterns.name.source, maxLength: inputLimits.nameLength, description: "The file's name without .json; what a profile gives as template." },
    display_name: { type: "string", minLength: 1, maxLength: 100 },
    docs_url: { ...https, description: "The provider's documentation of its OAuth flow or API authentication." },
    placeholders: {
      type: "object",
      description: "Values a profile must give in template_values, written {name} in the profile's URLs and strategy.",
      propertyNames: { pattern: inputPatterns.placeholder.source },
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        required: ["title", "description", "pattern", "example"],
        properties: {
          title: { type: "string", minLength: 1, maxLength: 60 },
          description: sentence,
          pattern: { type: "string", pattern: "^\\^.*\\$$", description: "Anchored: a value must match as a whole." },
          example: { type: "string", minLength: 1 },
        },
      },
    },
    profile,
    quirks: {
      type: "object",
      description: "The OAuth core's quirk adapters this provider needs (they become params.quirks), each with its source.",
      propertyNames: { enum: [...quirkNames] },
      additionalProperties: citation,
    },
    handled: {
      type: "object",
      description: "Provider behaviours the OAuth core handles for every provider, noted with their source.",
      propertyNames: { enum: Object.keys(builtInHandling) },
      additionalProperties: citation,
    },
    token_fields: {
      type: "object",
      description: "Token-response fields (names or dotted paths) kept and exposed in the credential (they become params.keep_token_fields).",
      propertyNames: { pattern: "^[A-Za-z0-9_-]{1,64}(\\.[A-Za-z0-9_-]{1,64}){0,3}$" },
      additionalProperties: citation,
    },
    notes: {
      type: "array",
      description: "Sources for the other settings: authorize parameters, scopes, the auth method, what is left out.",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["about", "note", "source"],
        properties: { about: { type: "string", pattern: "^[a-z_]+(\\.[A-Za-z0-9_-]+)?$" }, note: sentence, source: https },
      },
    },
    setup: {
      type: "object",
      additionalProperties: false,
      required: ["console_url", "steps"],
      properties: {
        console_url: { ...https, description: "Where the app (OAuth client) or key is created." },
        steps: { type: "array", minItems: 1, items: sentence },
        refresh: { ...sentence, description: "What refresh needs: scopes, authorization parameters, app settings." },
      },
    },
  },
} as const;
