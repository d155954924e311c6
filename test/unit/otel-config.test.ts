import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/shared/config-reader.ts";
import { loadOtelConfig } from "../../src/shared/otel-config.ts";

describe("loadOtelConfig", () => {
  it("is off without an endpoint, or when disabled", () => {
    assert.equal(loadOtelConfig({}, "nexus-broker"), undefined);
    assert.equal(loadOtelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }, "nexus-broker"), undefined);
    assert.equal(loadOtelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" }, "nexus-broker"), undefined);
  });

  it("adds /v1/traces to the base endpoint, takes the traces endpoint as it is, and defaults to http/protobuf", () => {
    assert.deepEqual(loadOtelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318/" }, "nexus-gateway"), {
      url: "http://c:4318/v1/traces", protocol: "http/protobuf", headers: {}, serviceName: "nexus-gateway", sampleRatio: 1,
    });
    const c = loadOtelConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://c.example/otlp/traces",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_HEADERS: "x-key=a%3Db, other = c", OTEL_SERVICE_NAME: "edge",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25",
    }, "nexus-gateway");
    assert.deepEqual(c, { url: "https://c.example/otlp/traces", protocol: "http/json", headers: { "x-key": "a=b", other: "c" }, serviceName: "edge", sampleRatio: 0.25 });
  });

  it("refuses gRPC export and unknown samplers with a sentence each", () => {
    assert.throws(() => loadOtelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_TRACES_SAMPLER: "jaeger_remote" }, "b"),
      (e: unknown) => e instanceof ConfigError && e.problems.length === 2 && /http\/protobuf or http\/json/.test(e.problems[0]!) && /OTEL_TRACES_SAMPLER/.test(e.problems[1]!));
  });
});
