import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { relayError } from "../../src/gateway/handlers/gateway-handlers.ts";
import { createLogger } from "../../src/shared/logger.ts";

describe("relayError", () => {
  function logged(error: unknown) {
    const lines: { level: string; msg: string }[] = [];
    const logger = createLogger({ level: "debug", write: (l) => void lines.push(JSON.parse(l) as { level: string; msg: string }) });
    return { relayed: relayError(error, logger), lines };
  }

  it("takes an agent that hung up mid-call (connect-node reports a reset as aborted) for what it is: no error line", () => {
    for (const code of [Code.Aborted, Code.Canceled]) {
      const { relayed, lines } = logged(new ConnectError("[aborted] read ECONNRESET", code));
      assert.equal(relayed.code, Code.Canceled);
      assert.deepEqual(lines.map((l) => [l.level, l.msg]), [["debug", "client went away before the Broker answered"]]);
    }
  });

  it("still logs a Broker fault at error, saying where to look", () => {
    const { relayed, lines } = logged(new ConnectError("boom", Code.DataLoss));
    assert.equal(relayed.code, Code.Internal);
    assert.equal(lines[0]?.level, "error");
    assert.match(lines[0]!.msg, /request_id/);
  });
});
