/**
 * instrument(): what a repository's failures become for callers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { instrument } from "../../src/broker/repositories/instrument.ts";
import { NexusError } from "../../src/shared/errors.ts";

function failing(code: string) {
  return instrument("test", { write: async () => Promise.reject(Object.assign(new Error(`sqlstate ${code}`), { code })) }, () => {});
}

describe("instrument", () => {
  it("makes text PostgreSQL cannot store (22021 NUL in text, 22P05 NUL in jsonb) invalid_argument, keeping the cause", async () => {
    for (const code of ["22021", "22P05"]) {
      await assert.rejects(failing(code).write(), (error: unknown) => {
        assert.ok(error instanceof NexusError);
        assert.equal(error.reason, "invalid_argument");
        assert.equal((error.cause as { code: string }).code, code);
        return true;
      });
    }
  });

  it("still makes a lost database unavailable and leaves other errors alone", async () => {
    await assert.rejects(failing("57P01").write(), (e: unknown) => e instanceof NexusError && e.reason === "unavailable");
    await assert.rejects(failing("23505").write(), (e: unknown) => !(e instanceof NexusError) && (e as { code: string }).code === "23505");
  });
});
