import type { Interceptor } from "@connectrpc/connect";
import { NexusError } from "../shared/errors.ts";
import { checkInputRules } from "../shared/input-rule-check.ts";
import { NexusClientError } from "./nexus-client-error.ts";

/**
 * Checks every request against the input rules its contract names, as the
 * Gateway will, before anything is sent: a malformed id or scope fails at
 * once with the reason, field and message the Gateway would answer, without
 * a round trip (or a retry). The rules are the Gateway's own
 * (`src/shared/input-rules.ts`), so the two cannot disagree.
 */
export const inputRulesInterceptor: Interceptor = (next) => (request) => {
  if (!request.stream) {
    try {
      checkInputRules(request.method.input, request.message);
    } catch (error) {
      if (!(error instanceof NexusError)) throw error;
      throw new NexusClientError(`${error.reason}: ${error.message}`, {
        code: "invalid_argument", reason: error.reason,
        fieldViolations: error.field === undefined ? [] : [{ field: error.field, description: error.description ?? error.message }],
      });
    }
  }
  return next(request);
};
