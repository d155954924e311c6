import { type DescMessage, getOption, hasOption, type JsonValue } from "@bufbuild/protobuf";
import { field_behavior, FieldBehavior } from "../../../gen/google/api/field_behavior_pb.ts";

/** Field names to drop per message type; absent when the type holds none at any depth. */
const cache = new Map<string, Plan | undefined>();

interface Plan {
  readonly drop: ReadonlySet<string>;
  readonly nested: ReadonlyMap<string, { readonly list: boolean; readonly plan: Plan }>;
}

/**
 * Removes fields annotated `(google.api.field_behavior) = INPUT_ONLY` (a client
 * secret, for example) from a JSON rendering of `schema`, at any depth. With
 * implicit fields written out, they would otherwise show up as empty values.
 */
export function stripInputOnlyFields(schema: DescMessage, json: JsonValue): JsonValue {
  const plan = planFor(schema, new Set());
  if (plan !== undefined) apply(plan, json);
  return json;
}

function planFor(schema: DescMessage, visiting: Set<string>): Plan | undefined {
  if (cache.has(schema.typeName)) return cache.get(schema.typeName);
  if (visiting.has(schema.typeName)) return undefined; // recursive types: stop here
  visiting.add(schema.typeName);
  const drop = new Set<string>();
  const nested = new Map<string, { list: boolean; plan: Plan }>();
  for (const field of schema.fields) {
    if (hasOption(field, field_behavior) && getOption(field, field_behavior).includes(FieldBehavior.INPUT_ONLY)) {
      drop.add(field.name);
    } else if (field.message !== undefined && field.fieldKind !== "map") {
      const inner = planFor(field.message, visiting);
      if (inner !== undefined) nested.set(field.name, { list: field.fieldKind === "list", plan: inner });
    }
  }
  const plan = drop.size === 0 && nested.size === 0 ? undefined : { drop, nested };
  cache.set(schema.typeName, plan);
  return plan;
}

function apply(plan: Plan, json: JsonValue): void {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return;
  for (const name of plan.drop) delete json[name];
  for (const [name, { list, plan: inner }] of plan.nested) {
    const value = json[name];
    if (list && Array.isArray(value)) for (const item of value) apply(inner, item);
    else if (value !== undefined) apply(inner, value);
  }
}
