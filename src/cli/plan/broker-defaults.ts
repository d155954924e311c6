import type { JsonObject } from "../manifest/manifest-types.ts";

/**
 * What the Broker stores for a static provider that names no
 * credential_schema or auth_strategy. The CLI cannot import the Broker, so
 * this is a copy of defaultsFor() in src/broker/domain/credential-schema.ts;
 * keep the two in sync (test/unit/cli-plan-diff.test.ts compares them). Only
 * used to compare: apply sends what the manifest says and lets the Broker
 * fill its own defaults.
 */
export function staticDefaults(authType: string): { schema: JsonObject | null; strategy: JsonObject | null } {
  const secret = (title: string) => ({ type: "string", title, format: "password" });
  const apiKey = { type: "object", required: ["api_key"], properties: { api_key: secret("API key") } };
  switch (authType) {
    case "api_key":
      return { schema: apiKey, strategy: { type: "header", config: { header_name: "X-API-Key", credential_field: "api_key" } } };
    case "header":
      return { schema: apiKey, strategy: { type: "header", config: { header_name: "Authorization", value_prefix: "Bearer ", credential_field: "api_key" } } };
    case "query_param":
      return { schema: apiKey, strategy: null };
    case "basic_auth":
      return {
        schema: { type: "object", required: ["username", "password"], properties: { username: { type: "string", title: "Username" }, password: secret("Password") } },
        strategy: { type: "basic_auth", config: { username_field: "username", password_field: "password" } },
      };
    case "hmac_payload":
      return { schema: { type: "object", required: ["api_secret"], properties: { api_secret: secret("Signing secret") } }, strategy: null };
    case "aws_sigv4":
      return {
        schema: {
          type: "object",
          required: ["access_key", "secret_key"],
          properties: { access_key: { type: "string", title: "Access key ID" }, secret_key: secret("Secret access key"), session_token: secret("Session token (optional)") },
        },
        strategy: null,
      };
    default:
      return { schema: null, strategy: null };
  }
}
