/**
 * The rule on request text (security.md C-48), part of the one validation
 * step of both services: NUL and other control characters anywhere in a
 * request are refused with the field named, before any handler runs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { CreateProviderRequestSchema, ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { CaptureCredentialRequestSchema } from "../../gen/nexus/common/v1/capture_pb.ts";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { createErrorInterceptor } from "../../src/shared/connect-errors.ts";
import { findControlCharacter } from "../../src/shared/server/control-character-rule.ts";
import { createInputValidation } from "../../src/shared/server/input-validation.ts";
import { createLogger } from "../../src/shared/logger.ts";

function findIn(json: JsonObject, exempt: string[] = []) {
  return findControlCharacter(reflect(CreateProviderRequestSchema, fromJson(CreateProviderRequestSchema, json)), new Set(exempt));
}

const profile = (extra: JsonObject): JsonObject => ({ profile: { name: "acme", authType: "api_key", ...extra } });

describe("findControlCharacter", () => {
  it("finds nothing in clean text, unicode included", () => {
    assert.equal(findIn(profile({ description: "Ünïcødé ✓ — fine", scopes: ["a", "b"], params: { authorizeParams: { prompt: "consent" } } })), undefined);
  });

  it("names a top-level and a nested string field", () => {
    assert.deepEqual(findIn(profile({ description: "a\u0000b" })), { field: "profile.description", codePoint: 0 });
    assert.deepEqual(findIn(profile({ clientSecret: "s\r\n" })), { field: "profile.client_secret", codePoint: 13 });
  });

  it("names a repeated item by index", () => {
    assert.deepEqual(findIn(profile({ aliases: ["ok", "b\u007f"] })), { field: "profile.aliases[1]", codePoint: 0x7f });
  });

  it("names a map value by key, and a bad map key without echoing it", () => {
    assert.deepEqual(findIn(profile({ params: { authorizeParams: { prompt: "x\u0000" } } })), { field: "profile.params.authorize_params.prompt", codePoint: 0 });
    assert.deepEqual(findIn(profile({ params: { authorizeParams: { "pro\u0000mpt": "x" } } })), { field: "profile.params.authorize_params (a key)", codePoint: 0 });
  });

  it("reads a Struct as the JSON it stands for (credential_schema descriptions, enum lists)", () => {
    const schema = { type: "object", properties: { api_key: { type: "string", description: "paste\u0000it" } } };
    assert.deepEqual(findIn(profile({ params: { credentialSchema: schema } })), {
      field: "profile.params.credential_schema.properties.api_key.description", codePoint: 0,
    });
    const list = { type: "object", properties: { region: { type: "string", enum: ["eu", "u\ts"] } } };
    assert.deepEqual(findIn(profile({ params: { credentialSchema: list } })), { field: "profile.params.credential_schema.properties.region.enum[1]", codePoint: 9 });
  });

  it("skips exempt fields", () => {
    const message = fromJson(CaptureCredentialRequestSchema, { state: "s", credentials: { api_key: "k\u0000" } });
    const r = reflect(CaptureCredentialRequestSchema, message);
    assert.deepEqual(findControlCharacter(r), { field: "credentials.api_key", codePoint: 0 });
    assert.equal(findControlCharacter(r, new Set(["nexus.common.v1.CaptureCredentialRequest.credentials"])), undefined);
  });
});

describe("createInputValidation: control characters", () => {
  const logger = createLogger({ level: "error", write: () => {} });
  let reached = 0;
  const transport = createRouterTransport((router) => router.service(ProviderService, {
    createProvider() {
      reached++;
      return {};
    },
  }), { router: { interceptors: [createErrorInterceptor(logger), createInputValidation()] } });
  const client = createClient(ProviderService, transport);

  it("refuses a request holding NUL as invalid_argument naming the field, before the handler runs", async () => {
    const error = await client.createProvider(fromJson(CreateProviderRequestSchema, profile({ params: { authorizeParams: { prompt: "\u0000" } } }))).then(
      () => assert.fail("accepted"),
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(error.code, Code.InvalidArgument);
    assert.match(error.rawMessage, /^invalid_argument: profile\.params\.authorize_params\.prompt: must not contain control characters \(found U\+0000\)$/);
    const info = error.findDetails(ErrorInfoSchema)[0];
    assert.equal(info?.reason, "invalid_argument");
    assert.deepEqual(error.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => [v.field, v.description]), [
      ["profile.params.authorize_params.prompt", "must not contain control characters (found U+0000)"],
    ]);
    assert.equal(reached, 0);
  });

  it("lets clean requests through", async () => {
    await client.createProvider(fromJson(CreateProviderRequestSchema, profile({ description: "fine" })));
    assert.equal(reached, 1);
  });
});
