import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { acceptedRequestId } from "../../src/shared/server/request-id.ts";

describe("acceptedRequestId", () => {
  it("keeps ids of 1 to 128 letters, digits and . _ : -", () => {
    for (const id of ["a", "7f3e2c1a-0b9d-4e8f-a1b2-c3d4e5f6a7b8", "01HZX3K9Q8W7E6R5T4Y3U2I1O0", "nginx:0af7651916cd43dd8448eb211c80319c", "a.b_c-d", "x".repeat(128)]) {
      assert.equal(acceptedRequestId(id), id);
    }
  });

  it("refuses empty, longer, and anything with other characters (so no log line or header can be bent)", () => {
    for (const id of [null, undefined, "", "x".repeat(129), "a b", "a\nb", "a\tb", "a/b", "a=b", "a;b", "a\"b", "é", "a\u0000b", "<script>"]) {
      assert.equal(acceptedRequestId(id), undefined, JSON.stringify(id));
    }
  });
});
