import { type DescField, type DescMessage, getOption, ScalarType } from "@bufbuild/protobuf";
import { field_behavior, FieldBehavior } from "../../gen/google/api/field_behavior_pb.ts";
import { input_rule, InputRule } from "../../gen/nexus/common/v1/input_rules_pb.ts";
import {
  parseAllowedHosts, parseCredentialFields, parsePageSize, parseProviderName, parseReturnUrl, parseScopes, parseState, parseUuid,
  parseWorkspaceId,
} from "./input-rules.ts";

/** What a field of each rule holds, and how the rule reads it (returning the value as Nexus reads it). */
export interface RuleDef {
  readonly kind: "string" | "strings" | "string map" | "int32";
  readonly apply: (value: never, field: string) => unknown;
  /** The rule refuses control characters itself, with a reason of its own. */
  readonly ownsControlCharacters?: boolean;
}

/** Each rule of the contract's InputRule enum, applied by the functions of input-rules.ts. */
const ruleDefs: { readonly [R in Exclude<InputRule, typeof InputRule.UNSPECIFIED>]: RuleDef } = {
  [InputRule.UUID]: { kind: "string", apply: (v: string, f) => parseUuid(v, f) },
  [InputRule.WORKSPACE_ID]: { kind: "string", apply: (v: string, f) => parseWorkspaceId(v, f) },
  [InputRule.PROVIDER_NAME]: { kind: "string", apply: (v: string, f) => parseProviderName(v, f) },
  [InputRule.SCOPES]: { kind: "strings", apply: (v: string[], f) => parseScopes(v, f) },
  // The Broker reads the URL again against ALLOWED_RETURN_DOMAINS; here it keeps the caller's spelling.
  [InputRule.RETURN_URL]: { kind: "string", apply: (v: string, f) => (parseReturnUrl(v, f), v), ownsControlCharacters: true },
  [InputRule.STATE]: { kind: "string", apply: (v: string, f) => parseState(v, f) },
  [InputRule.CREDENTIALS]: { kind: "string map", apply: (v: Record<string, string>, f) => parseCredentialFields(v, f), ownsControlCharacters: true },
  // 0 stays 0 ("not given"): the service picks the default.
  [InputRule.PAGE_SIZE]: { kind: "int32", apply: (v: number, f) => (parsePageSize(v, f), v) },
  [InputRule.HOSTS]: { kind: "strings", apply: (v: string[], f) => parseAllowedHosts(v, f) },
};

/** One field to check: its own rule, or the plan of the message it holds. */
export interface RuleStep {
  readonly field: DescField;
  readonly rule?: RuleDef;
  readonly required: boolean;
  readonly nested?: RulePlan;
}
/** The fields of a message type to check, in field order. */
export type RulePlan = readonly RuleStep[];

/** Per message type; an empty plan when nothing in it, at any depth, has a rule. */
const plans = new Map<string, RulePlan>();

/**
 * Applies the input rules the contract names (`(nexus.common.v1.input_rule)`)
 * to every field of `message` and of the messages it holds, in place: a value
 * that breaks its rule throws the rule's NexusError naming the field's path
 * (`spec.agent_id`), and a value that passes is replaced by the value as
 * Nexus reads it (a UUID in lowercase, scopes without duplicates). An empty
 * value is refused only when the field is also REQUIRED.
 */
export function checkInputRules(schema: DescMessage, message: object, path = ""): void {
  for (const step of planFor(schema, new Set())) {
    const at = path === "" ? step.field.name : `${path}.${step.field.name}`;
    const record = message as Record<string, unknown>;
    const value = record[step.field.localName];
    if (step.nested !== undefined) {
      if (Array.isArray(value)) value.forEach((item: object, i) => checkInputRules(step.field.message!, item, `${at}[${i}]`));
      else if (value !== undefined) checkInputRules(step.field.message!, value as object, at);
      continue;
    }
    if (isEmpty(value) && !step.required) continue;
    record[step.field.localName] = step.rule!.apply(value as never, at);
  }
}

/** The fields of `schema` with a rule, and the message fields that lead to some; checked against the rule's kind. */
export function planFor(schema: DescMessage, visiting: Set<string>): RulePlan {
  const known = plans.get(schema.typeName);
  if (known !== undefined) return known;
  if (visiting.has(schema.typeName) || schema.typeName.startsWith("google.protobuf.")) return [];
  visiting.add(schema.typeName);
  const steps: RuleStep[] = [];
  for (const field of schema.fields) {
    const rule = getOption(field, input_rule);
    if (rule !== InputRule.UNSPECIFIED) {
      const def = ruleDefs[rule as keyof typeof ruleDefs];
      if (def === undefined || kindOf(field) !== def.kind || field.oneof !== undefined) {
        throw new Error(`${schema.typeName}.${field.name}: input rule ${rule} does not fit a ${kindOf(field)} field`);
      }
      steps.push({ field, rule: def, required: getOption(field, field_behavior).includes(FieldBehavior.REQUIRED) });
    } else if (field.message !== undefined && field.fieldKind !== "map" && field.oneof === undefined) {
      const nested = planFor(field.message, visiting);
      if (nested.length > 0) steps.push({ field, required: false, nested });
    }
  }
  plans.set(schema.typeName, steps);
  return steps;
}

/**
 * The fields (`<message type>.<field>`) in `schema`, at any depth, whose rule
 * refuses control characters with a reason of its own (`return_url_rejected`,
 * `credential_invalid`): a generic scan for them should leave these alone.
 */
export function fieldsOwningControlCharacters(schema: DescMessage): Set<string> {
  const out = new Set<string>();
  const visit = (plan: RulePlan) => {
    for (const step of plan) {
      if (step.rule?.ownsControlCharacters === true) out.add(`${step.field.parent.typeName}.${step.field.name}`);
      if (step.nested !== undefined) visit(step.nested);
    }
  };
  visit(planFor(schema, new Set()));
  return out;
}

function kindOf(field: DescField): string {
  const stringScalar = field.scalar === ScalarType.STRING;
  if (field.fieldKind === "scalar") return stringScalar ? "string" : field.scalar === ScalarType.INT32 ? "int32" : "other";
  if (field.fieldKind === "list") return stringScalar ? "strings" : "other";
  if (field.fieldKind === "map") return stringScalar && field.mapKey === ScalarType.STRING ? "string map" : "other";
  return "other";
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === "" || value === 0) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === "object" && value !== null && Object.keys(value).length === 0;
}
