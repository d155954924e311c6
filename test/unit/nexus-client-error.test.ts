/**
 * How the TypeScript client reads a failure: from its code and details
 * (ErrorInfo, BadRequest, RetryInfo), never its message; and which failures
 * it retries: never one that sending the same request again cannot fix
 * (payload_too_large above all).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorFromJsonBytes, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { toNexusClientError } from "../../src/client/nexus-client-error.ts";
import { withRetry } from "../../src/client/with-retry.ts";
import { withReason } from "../../src/shared/connect-errors.ts";

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** Runs withRetry over an operation that always throws `error`; returns how many times it ran and the waits. */
async function attemptsFor(error: unknown): Promise<{ calls: number; waits: number[] }> {
  let calls = 0;
  const waits: number[] = [];
  await assert.rejects(withRetry(async () => {
    calls++;
    throw error;
  }, { retry: { attempts: 4, maxDelayMs: 10_000 }, random: () => 0, sleep: async (ms) => void waits.push(ms), logger: quiet, what: "Test" }));
  return { calls, waits };
}

/** An error as it arrives over the wire: encoded to Connect's error JSON and decoded again. */
function overTheWire(error: ConnectError): ConnectError {
  return errorFromJsonBytes(errorToJsonBytes(error, {}), undefined, new ConnectError("unreadable"));
}

describe("toNexusClientError", () => {
  it("reads the reason, the field at fault and the retry hint from the details", () => {
    const bad = toNexusClientError(overTheWire(withReason("invalid_argument", "connection_id: must be a UUID", { field: "connection_id", description: "must be a UUID" })));
    assert.deepEqual([bad.code, bad.reason, bad.field, bad.retryable], ["invalid_argument", "invalid_argument", "connection_id", false]);
    assert.deepEqual(bad.fieldViolations, [{ field: "connection_id", description: "must be a UUID" }]);
    const later = toNexusClientError(overTheWire(withReason("refresh_backoff", "the next attempt is in 7 s", { retryAfterSeconds: 7 })));
    assert.deepEqual([later.code, later.reason, later.retryable, later.retryAfterMs], ["unavailable", "refresh_backoff", true, 7000]);
  });

  it("never reads the message: a reason-looking prefix without ErrorInfo is only the code", () => {
    const prefixOnly = toNexusClientError(new ConnectError("attention_required: but no detail says so", Code.FailedPrecondition));
    assert.deepEqual([prefixOnly.code, prefixOnly.reason], ["failed_precondition", "failed_precondition"]);
  });

  it("payload_too_large is not retryable", () => {
    const withInfo = toNexusClientError(withReason("payload_too_large", "the request body is larger than the limit of 1048576 bytes"));
    assert.deepEqual([withInfo.code, withInfo.reason, withInfo.retryable], ["resource_exhausted", "payload_too_large", false]);
  });

  it("a bare resource_exhausted (connect-es's own size limit) is not retryable; one with a RetryInfo is", () => {
    assert.equal(toNexusClientError(new ConnectError("message size 5 is larger than configured readMaxBytes 4", Code.ResourceExhausted)).retryable, false);
    const rateLimit = (retry: boolean) => new ConnectError("rate_limited: slow down", Code.ResourceExhausted, undefined, [
      { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: "rate_limited", domain: "nexus.dev" }) },
      ...(retry ? [{ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: { seconds: 2n } }) }] : []),
    ]);
    assert.equal(toNexusClientError(rateLimit(true)).retryable, true);
    assert.equal(toNexusClientError(rateLimit(false)).retryable, false);
  });

  it("unavailable stays retryable", () => {
    assert.equal(toNexusClientError(withReason("unavailable", "down")).retryable, true);
  });
});

describe("withRetry", () => {
  it("sends a payload_too_large request once, never again", async () => {
    assert.equal((await attemptsFor(withReason("payload_too_large", "too big"))).calls, 1);
    assert.equal((await attemptsFor(withReason("header_too_large", "too big"))).calls, 1);
  });

  it("still retries unavailable up to the attempt budget", async () => {
    assert.equal((await attemptsFor(withReason("unavailable", "down"))).calls, 4);
  });

  it("waits at least as long as the RetryInfo hint says", async () => {
    const { calls, waits } = await attemptsFor(overTheWire(withReason("unavailable", "shutting down", { retryAfterSeconds: 3 })));
    assert.equal(calls, 4);
    assert.deepEqual(waits, [3000, 3000, 3000]);
  });
});
