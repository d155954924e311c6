import { reflect } from "@bufbuild/protobuf/reflect";
import type { Interceptor } from "@connectrpc/connect";
import { invalidArgument } from "../errors.ts";
import { checkInputRules, fieldsOwningControlCharacters } from "../input-rule-check.ts";
import { findControlCharacter } from "./control-character-rule.ts";

/** Options of {@linkcode createInputValidation}. */
export interface InputValidationOptions {
  /** Procedures (`/pkg.Service/Method`) or whole services (`/pkg.Service/`) left alone, such as browser pages that render their own errors. */
  readonly exemptProcedures?: readonly string[];
}

/**
 * The one validation step of requests, for both services, before any
 * handler runs, whatever the protocol (REST, Connect, gRPC, gRPC-Web):
 *
 * 1. no string anywhere in the request (fields, repeated items, map keys and
 *    values, nested messages, Struct values) holds NUL, another C0 control
 *    character or DEL: `invalid_argument` naming the field, except in fields
 *    whose rule refuses them with a reason of its own (credential values as
 *    `credential_invalid`, which the capture form can show; return URLs as
 *    `return_url_rejected`);
 * 2. every field follows the input rule the contract names for it
 *    (`(nexus.common.v1.input_rule)`, defined in `src/shared/input-rules.ts`),
 *    refused with the rule's reason, and read as the rule reads it.
 */
export function createInputValidation(options: InputValidationOptions = {}): Interceptor {
  const exemptFieldsByType = new Map<string, ReadonlySet<string>>();
  const exemptProcedures = options.exemptProcedures ?? [];
  const isExempt = (path: string) => exemptProcedures.some((p) => (p.endsWith("/") ? path.startsWith(p) : path === p));
  return (next) => async (request) => {
    if (!request.stream && !isExempt(`/${request.service.typeName}/${request.method.name}`)) {
      const input = request.method.input;
      let exemptFields = exemptFieldsByType.get(input.typeName);
      if (exemptFields === undefined) exemptFieldsByType.set(input.typeName, exemptFields = fieldsOwningControlCharacters(input));
      const found = findControlCharacter(reflect(input, request.message), exemptFields);
      if (found !== undefined) {
        throw invalidArgument(found.field, `must not contain control characters (found U+${found.codePoint.toString(16).toUpperCase().padStart(4, "0")})`);
      }
      checkInputRules(input, request.message);
    }
    return next(request);
  };
}
