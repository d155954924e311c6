import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, createFileRegistry, fromBinary, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport, type Transport } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.ts";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.ts";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { registerHealth, type HealthSource, type ServingStatus } from "../../src/shared/server/health-service.ts";
import { registerReflection } from "../../src/shared/server/reflection-service.ts";

const gatewayFile = "nexus/gateway/v1/gateway_service.proto";
const closureMembers = [
  "google/api/annotations.proto", "google/protobuf/descriptor.proto", "nexus/common/v1/credential.proto", "nexus/common/v1/token.proto",
  "nexus/common/v1/capture.proto", "nexus/common/v1/input_rules.proto",
];

/** A health source the test flips by hand, counting how often it is asked. */
function fakeSource(initial: ServingStatus): HealthSource & { status: ServingStatus; calls: number } {
  const source = {
    status: initial,
    calls: 0,
    async check(): Promise<ServingStatus> {
      source.calls++;
      return source.status;
    },
  };
  return source;
}

function serve(source: HealthSource = fakeSource("SERVING"), watchIntervalMs = 10): Transport {
  return createRouterTransport((router) => {
    router.service(GatewayService, {});
    router.service(ProviderService, {});
    registerHealth(router, source, [GatewayService.typeName, ProviderService.typeName], { watchIntervalMs });
    registerReflection(router, [GatewayService, ProviderService, Health]);
  });
}

type Query = v1.ServerReflectionRequest["messageRequest"];

/** Sends the queries on one stream, in order, and collects the answers. */
async function reflect(...queries: Query[]) {
  const client = createClient(v1.ServerReflection, serve());
  async function* requests() {
    for (const messageRequest of queries) yield create(v1.ServerReflectionRequestSchema, { host: "h", messageRequest });
  }
  const answers: v1.ServerReflectionResponse[] = [];
  for await (const answer of client.serverReflectionInfo(requests())) answers.push(answer);
  assert.equal(answers.length, queries.length);
  return answers;
}

function filesOf(answer: v1.ServerReflectionResponse | undefined): FileDescriptorProto[] {
  assert.equal(answer?.messageResponse.case, "fileDescriptorResponse", JSON.stringify(answer?.messageResponse.value));
  const bytes = answer.messageResponse.value.fileDescriptorProto;
  return bytes.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

/** Checks a file answer is a closed set, each file once, and can be rebuilt into a registry. */
function assertClosure(files: FileDescriptorProto[], mustContain: readonly string[]) {
  const names = files.map((f) => f.name);
  assert.equal(new Set(names).size, names.length, `duplicate files in ${names.join(", ")}`);
  for (const name of mustContain) assert.ok(names.includes(name), `${name} missing from ${names.join(", ")}`);
  const [first] = files;
  assert.ok(first, "no files in the answer");
  // Resolving imports only from the answer throws if any file of the closure is missing. Files are added
  // imports first (protobuf-es's resolver form mis-orders diamond imports, so the order is made here).
  const byName = new Map(files.map((f) => [f.name, f]));
  const ordered: FileDescriptorProto[] = [];
  const visit = (f: FileDescriptorProto): void => {
    if (ordered.includes(f)) return;
    for (const dep of f.dependency) {
      const d = byName.get(dep);
      assert.ok(d, `${dep}, imported by ${f.name}, is missing from the answer`);
      visit(d);
    }
    ordered.push(f);
  };
  visit(first);
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
  assert.equal([...registry.files].length, files.length, "the answer holds files the first one does not import");
  return registry;
}

describe("server reflection", () => {
  it("lists the registered services and itself", async () => {
    const [answer] = await reflect({ case: "listServices", value: "" });
    assert.equal(answer?.messageResponse.case, "listServicesResponse");
    const names = answer.messageResponse.value.service.map((s) => s.name);
    for (const name of [
      "nexus.gateway.v1.GatewayService",
      "nexus.broker.v1.ProviderService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]) {
      assert.ok(names.includes(name), `${name} not in ${names.join(", ")}`);
    }
    assert.equal(answer.validHost, "h");
    assert.equal(answer.originalRequest?.messageRequest.case, "listServices");
  });

  for (const symbol of [
    "nexus.gateway.v1.GatewayService",
    "nexus.gateway.v1.GatewayService.GetToken",
    "nexus.gateway.v1.RequestConnectionRequest",
    ".nexus.gateway.v1.RequestConnectionRequest",
    "nexus.gateway.v1.RequestConnectionRequest.user_id",
    "nexus.gateway.v1.CheckConnectionResponse",
  ]) {
    it(`finds the file and its closure for symbol ${symbol}`, async () => {
      const [answer] = await reflect({ case: "fileContainingSymbol", value: symbol });
      const files = filesOf(answer);
      assert.equal(files[0]?.name, gatewayFile);
      const registry = assertClosure(files, closureMembers);
      const service = registry.getService("nexus.gateway.v1.GatewayService");
      assert.equal(service?.file.proto.name, gatewayFile);
      assert.ok(service.methods.some((m) => m.name === "GetToken"));
      assert.ok(registry.getMessage("nexus.common.v1.CaptureCredentialRequest")?.field.credentials?.fieldKind === "map");
    });
  }

  for (const [symbol, file] of [
    ["nexus.common.v1.GetTokenRequest", "nexus/common/v1/token.proto"],
    ["nexus.common.v1.InputRule", "nexus/common/v1/input_rules.proto"],
    ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
    ["grpc.health.v1.HealthCheckResponse.SERVICE_UNKNOWN", "grpc/health/v1/health.proto"],
    ["google.protobuf.Struct", "google/protobuf/struct.proto"],
    ["google.protobuf.FieldDescriptorProto.Type", "google/protobuf/descriptor.proto"],
    ["nexus.broker.v1.ProviderService", "nexus/broker/v1/provider_service.proto"],
    ["grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo", "grpc/reflection/v1alpha/reflection.proto"],
  ] as const) {
    it(`finds ${symbol} in ${file}`, async () => {
      const [answer] = await reflect({ case: "fileContainingSymbol", value: symbol });
      const files = filesOf(answer);
      assert.equal(files[0]?.name, file);
      const registry = assertClosure(files, []);
      const typeName = symbol.replace(/\.SERVICE_UNKNOWN$/, ".ServingStatus").replace(/\.ServerReflectionInfo$/, "");
      assert.equal(registry.get(typeName)?.typeName, typeName);
    });
  }

  it("answers file_by_filename with the file first and its closure", async () => {
    const [answer] = await reflect({ case: "fileByFilename", value: gatewayFile });
    const files = filesOf(answer);
    assert.equal(files[0]?.name, gatewayFile);
    assertClosure(files, [...closureMembers, "google/protobuf/struct.proto", "google/api/field_behavior.proto"]);
  });

  it("answers file_by_filename for a well-known type", async () => {
    const [answer] = await reflect({ case: "fileByFilename", value: "google/protobuf/timestamp.proto" });
    assert.deepEqual(filesOf(answer).map((f) => f.name), ["google/protobuf/timestamp.proto"]);
  });

  it("answers extension queries from the descriptors", async () => {
    const methodOptions = "google.protobuf.MethodOptions";
    const [byExtension, numbers, none, unknownType] = await reflect(
      { case: "fileContainingExtension", value: create(v1.ExtensionRequestSchema, { containingType: methodOptions, extensionNumber: 72295728 }) },
      { case: "allExtensionNumbersOfType", value: `.${methodOptions}` },
      { case: "fileContainingExtension", value: create(v1.ExtensionRequestSchema, { containingType: methodOptions, extensionNumber: 1 }) },
      { case: "allExtensionNumbersOfType", value: "no.such.Type" },
    );
    assert.equal(filesOf(byExtension)[0]?.name, "google/api/annotations.proto");
    assert.equal(numbers?.messageResponse.case, "allExtensionNumbersResponse");
    assert.equal(numbers.messageResponse.value.baseTypeName, methodOptions);
    assert.ok(numbers.messageResponse.value.extensionNumber.includes(72295728));
    assert.equal(none?.messageResponse.case, "errorResponse");
    assert.equal(none.messageResponse.value.errorCode, 5);
    assert.equal(unknownType?.messageResponse.case, "errorResponse");
    assert.equal(unknownType.messageResponse.value.errorCode, 5);
  });

  it("answers an unknown name with NOT_FOUND and keeps the stream going", async () => {
    const [missing, missingFile, next] = await reflect(
      { case: "fileContainingSymbol", value: "nexus.gateway.v1.NoSuchThing" },
      { case: "fileByFilename", value: "nexus/none.proto" },
      { case: "fileContainingSymbol", value: "nexus.gateway.v1.GatewayService" },
    );
    assert.equal(missing?.messageResponse.case, "errorResponse");
    assert.equal(missing.messageResponse.value.errorCode, 5);
    assert.match(missing.messageResponse.value.errorMessage, /NoSuchThing/);
    assert.equal(missing.originalRequest?.messageRequest.value, "nexus.gateway.v1.NoSuchThing");
    assert.equal(missingFile?.messageResponse.case, "errorResponse");
    assert.equal(missingFile.messageResponse.value.errorCode, 5);
    assert.equal(filesOf(next)[0]?.name, gatewayFile);
  });

  it("answers the same over v1alpha", async () => {
    const client = createClient(v1alpha.ServerReflection, serve());
    async function* requests() {
      yield create(v1alpha.ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } });
      yield create(v1alpha.ServerReflectionRequestSchema, {
        messageRequest: { case: "fileContainingSymbol", value: "nexus.gateway.v1.GatewayService.GetToken" },
      });
      yield create(v1alpha.ServerReflectionRequestSchema, { messageRequest: { case: "fileContainingSymbol", value: "no.Such" } });
    }
    const answers: v1alpha.ServerReflectionResponse[] = [];
    for await (const answer of client.serverReflectionInfo(requests())) answers.push(answer);
    const [list, file, missing] = answers;
    assert.equal(list?.$typeName, "grpc.reflection.v1alpha.ServerReflectionResponse");
    assert.equal(list.messageResponse.case, "listServicesResponse");
    assert.ok(list.messageResponse.value.service.some((s) => s.name === "nexus.gateway.v1.GatewayService"));
    assert.equal(file?.messageResponse.case, "fileDescriptorResponse");
    const files = file.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
    assert.equal(files[0]?.name, gatewayFile);
    assertClosure(files, closureMembers);
    assert.equal(missing?.messageResponse.case, "errorResponse");
    assert.equal(missing.messageResponse.value.errorCode, 5);
  });

  it("advertises only what it was given plus reflection", async () => {
    const transport = createRouterTransport((router) => registerReflection(router, [] as DescService[]));
    const client = createClient(v1.ServerReflection, transport);
    async function* requests() {
      yield create(v1.ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } });
    }
    for await (const answer of client.serverReflectionInfo(requests())) {
      assert.equal(answer.messageResponse.case, "listServicesResponse");
      assert.deepEqual(answer.messageResponse.value.service.map((s) => s.name).sort(), [
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]);
    }
  });
});

describe("health", () => {
  it("Check follows the source for the server and each named service", async () => {
    const source = fakeSource("SERVING");
    const client = createClient(Health, serve(source));
    assert.equal((await client.check({ service: "" })).status, HealthCheckResponse_ServingStatus.SERVING);
    assert.equal((await client.check({ service: GatewayService.typeName })).status, HealthCheckResponse_ServingStatus.SERVING);
    source.status = "NOT_SERVING";
    assert.equal((await client.check({ service: "" })).status, HealthCheckResponse_ServingStatus.NOT_SERVING);
    assert.equal((await client.check({ service: ProviderService.typeName })).status, HealthCheckResponse_ServingStatus.NOT_SERVING);
  });

  it("Check reports NOT_SERVING when the source fails", async () => {
    const failing: HealthSource = { check: () => Promise.reject(new Error("database down")) };
    const client = createClient(Health, serve(failing));
    assert.equal((await client.check({ service: "" })).status, HealthCheckResponse_ServingStatus.NOT_SERVING);
  });

  it("Check rejects an unknown service with NotFound", async () => {
    const client = createClient(Health, serve());
    await assert.rejects(client.check({ service: "no.such.Service" }), (error: unknown) => {
      const e = ConnectError.from(error);
      assert.equal(e.code, Code.NotFound);
      assert.match(e.rawMessage, /unknown service no\.such\.Service/);
      return true;
    });
  });

  it("List maps every name to the source's status", async () => {
    const client = createClient(Health, serve(fakeSource("NOT_SERVING")));
    const { statuses } = await client.list({});
    assert.deepEqual(Object.keys(statuses).sort(), ["", ProviderService.typeName, GatewayService.typeName].sort());
    for (const response of Object.values(statuses)) assert.equal(response.status, HealthCheckResponse_ServingStatus.NOT_SERVING);
  });

  it("Watch sends the current status, then each change, and stops when aborted", async () => {
    const source = fakeSource("SERVING");
    const client = createClient(Health, serve(source, 5));
    const abort = new AbortController();
    const seen: HealthCheckResponse_ServingStatus[] = [];
    const stream = client.watch({ service: "" }, { signal: abort.signal });
    await assert.rejects(
      (async () => {
        for await (const response of stream) {
          seen.push(response.status);
          if (seen.length === 1) source.status = "NOT_SERVING";
          if (seen.length === 2) abort.abort();
        }
      })(),
      (error: unknown) => ConnectError.from(error).code === Code.Canceled,
    );
    assert.deepEqual(seen, [HealthCheckResponse_ServingStatus.SERVING, HealthCheckResponse_ServingStatus.NOT_SERVING]);
    // The server must stop polling once the call is gone.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const calls = source.calls;
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(source.calls, calls);
  });

  it("Watch does not repeat an unchanged status", async () => {
    const source = fakeSource("SERVING");
    const client = createClient(Health, serve(source, 5));
    const abort = new AbortController();
    const seen: HealthCheckResponse_ServingStatus[] = [];
    setTimeout(() => abort.abort(), 80);
    await assert.rejects(async () => {
      for await (const response of client.watch({ service: GatewayService.typeName }, { signal: abort.signal })) {
        seen.push(response.status);
      }
    });
    assert.ok(source.calls > 3, `source polled only ${source.calls} times`);
    assert.deepEqual(seen, [HealthCheckResponse_ServingStatus.SERVING]);
  });

  it("Watch of an unknown service sends SERVICE_UNKNOWN and keeps the call open", async () => {
    const client = createClient(Health, serve());
    const abort = new AbortController();
    const seen: HealthCheckResponse_ServingStatus[] = [];
    setTimeout(() => abort.abort(), 50);
    await assert.rejects(async () => {
      for await (const response of client.watch({ service: "no.such.Service" }, { signal: abort.signal })) {
        seen.push(response.status);
      }
    }, (error: unknown) => ConnectError.from(error).code === Code.Canceled);
    assert.deepEqual(seen, [HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN]);
  });
});
