/**
 * RFC 6749 error bodies of the token endpoint, from the one reason mapping
 * (src/shared/connect-errors.ts): the OAuth error and status of each reason,
 * the description a person reads, the challenge, and Retry-After for a hint.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { withReason } from "../../src/shared/connect-errors.ts";
import { errorReasons } from "../../src/shared/errors.ts";
import { oauthErrorResponse } from "../../src/shared/server/oauth-error-response.ts";

async function answer(error: ConnectError, authorization: string | null = null) {
  const response = oauthErrorResponse(error, authorization);
  const chunks: Uint8Array[] = [];
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) chunks.push(chunk);
  const body = JSON.parse(new TextDecoder().decode(Buffer.concat(chunks))) as Record<string, string>;
  return { status: response.status, body, header: response.header! };
}

describe("oauthErrorResponse", () => {
  it("answers each reason with its RFC 6749 error and status", async () => {
    const expected: Record<string, [string, number]> = {
      invalid_grant: ["invalid_grant", 400], invalid_scope: ["invalid_scope", 400], invalid_target: ["invalid_target", 400],
      invalid_request: ["invalid_request", 400], invalid_argument: ["invalid_request", 400], unsupported_grant_type: ["unsupported_grant_type", 400],
      agent_key_invalid: ["invalid_client", 401], unauthenticated: ["invalid_client", 401], payload_too_large: ["invalid_request", 413],
      refresh_backoff: ["temporarily_unavailable", 503], unavailable: ["temporarily_unavailable", 503], connection_revoked: ["invalid_grant", 400],
      internal: ["server_error", 500],
    };
    for (const [reason, [error, status]] of Object.entries(expected)) {
      const r = await answer(withReason(reason as (typeof errorReasons)[number], "what happened"));
      assert.deepEqual([r.body.error, r.status], [error, status], reason);
      assert.equal(r.body.error_description, "what happened", "the sentence, without the reason in front");
    }
    assert.deepEqual((await answer(new ConnectError("no reason at all"))).body.error, "server_error");
  });

  it("challenges a client that authenticated with a header in its own scheme, and no other", async () => {
    assert.equal((await answer(withReason("agent_key_invalid", "no"), "Basic abc")).header.get("www-authenticate"), 'Basic realm="nexus"');
    assert.equal((await answer(withReason("agent_key_invalid", "no"), "Bearer abc")).header.get("www-authenticate"), 'Bearer realm="nexus"');
    assert.equal((await answer(withReason("agent_key_invalid", "no"))).header.get("www-authenticate"), null);
  });

  it("turns a RetryInfo hint into Retry-After, and sends none without one", async () => {
    const later = await answer(withReason("refresh_backoff", "the next attempt is in 7 s", { retryAfterSeconds: 6.2 }));
    assert.deepEqual([later.status, later.header.get("retry-after")], [503, "7"]);
    assert.equal((await answer(withReason("unavailable", "down"))).header.get("retry-after"), null);
  });
});
