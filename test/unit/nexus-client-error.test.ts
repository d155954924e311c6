/**
 * Which failures the TypeScript client retries: never one that sending the
 * same request again cannot fix (payload_too_large above all).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { toNexusClientError } from "../../src/client/nexus-client-error.ts";
import { withRetry } from "../../src/client/with-retry.ts";
import { withReason } from "../../src/shared/connect-errors.ts";

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** Runs withRetry over an operation that always throws `error`; returns how many times it ran. */
async function attemptsFor(error: unknown): Promise<number> {
  let calls = 0;
  await assert.rejects(withRetry(async () => {
    calls++;
    throw error;
  }, { retry: { attempts: 4 }, random: () => 0, sleep: async () => {}, logger: quiet, what: "Test" }));
  return calls;
}

describe("toNexusClientError", () => {
  it("payload_too_large is not retryable, whether the reason comes as ErrorInfo or as the message prefix", () => {
    const withInfo = toNexusClientError(withReason("payload_too_large", "the request body is larger than the limit of 1048576 bytes", {}));
    assert.deepEqual([withInfo.code, withInfo.reason, withInfo.retryable], ["resource_exhausted", "payload_too_large", false]);
    const prefixOnly = toNexusClientError(new ConnectError("payload_too_large: too big", Code.ResourceExhausted));
    assert.deepEqual([prefixOnly.reason, prefixOnly.retryable], ["payload_too_large", false]);
  });

  it("a bare resource_exhausted (connect-es's own size limit) is not retryable; one with a retry hint is", () => {
    assert.equal(toNexusClientError(new ConnectError("message size 5 is larger than configured readMaxBytes 4", Code.ResourceExhausted)).retryable, false);
    const rateLimit = (metadata: Record<string, string>) => new ConnectError("rate_limited: slow down", Code.ResourceExhausted, undefined, [
      { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: "rate_limited", domain: "nexus.dev", metadata }) },
    ]);
    assert.equal(toNexusClientError(rateLimit({ retry_after_seconds: "2" })).retryable, true);
    assert.equal(toNexusClientError(rateLimit({})).retryable, false);
  });

  it("unavailable stays retryable", () => {
    assert.equal(toNexusClientError(withReason("unavailable", "down", {})).retryable, true);
  });
});

describe("withRetry", () => {
  it("sends a payload_too_large request once, never again", async () => {
    assert.equal(await attemptsFor(withReason("payload_too_large", "too big", {})), 1);
    assert.equal(await attemptsFor(withReason("header_too_large", "too big", {})), 1);
  });

  it("still retries unavailable up to the attempt budget", async () => {
    assert.equal(await attemptsFor(withReason("unavailable", "down", {})), 4);
  });
});
