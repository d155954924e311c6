import type { DescField } from "@bufbuild/protobuf";
import type { ReflectMessage } from "@bufbuild/protobuf/reflect";
import { inputPatterns } from "../input-rules.ts";

/** Where a control character was found: the field path as a caller writes it, and the character. */
export interface ControlCharacterFinding {
  readonly field: string;
  readonly codePoint: number;
}

// C0 controls and DEL (the input rules' pattern). NUL is the one PostgreSQL cannot store at all
// (text: 22021, jsonb: 22P05); the others are header injection and log forging waiting to happen.
const controlCharacter = inputPatterns.controlCharacter;

/**
 * The first string in `message` holding a control character, or undefined:
 * the rule on request text that `createInputValidation` applies to every
 * request of both services.
 */
export function findControlCharacter(message: ReflectMessage, exemptFields: ReadonlySet<string> = new Set(), path = ""): ControlCharacterFinding | undefined {
  const typeName = message.desc.typeName;
  if (typeName === "google.protobuf.Struct") return inStruct(message, exemptFields, path);
  if (typeName === "google.protobuf.ListValue") return inList(message, exemptFields, path);
  for (const field of message.fields) {
    if (!message.isSet(field) || exemptFields.has(`${typeName}.${field.name}`)) continue;
    // A Value's oneof is the value itself: its path is the Value's own.
    const at = typeName === "google.protobuf.Value" ? path : join(path, field.name);
    const found = inField(field, message.get(field), exemptFields, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

function inField(field: DescField, value: unknown, exempt: ReadonlySet<string>, at: string): ControlCharacterFinding | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return inValue(value, exempt, at);
    case "message":
      return findControlCharacter(value as ReflectMessage, exempt, at);
    case "list": {
      let i = 0;
      for (const item of value as Iterable<unknown>) {
        const found = inValue(item, exempt, `${at}[${i++}]`);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    case "map":
      for (const [key, item] of value as ReadonlyMap<unknown, unknown>) {
        const found = inValue(key, exempt, `${at} (a key)`) ?? inValue(item, exempt, join(at, String(key)));
        if (found !== undefined) return found;
      }
      return undefined;
    default:
      return undefined;
  }
}

function inValue(value: unknown, exempt: ReadonlySet<string>, at: string): ControlCharacterFinding | undefined {
  if (typeof value === "string") {
    const m = controlCharacter.exec(value);
    return m === null ? undefined : { field: at, codePoint: m[0].codePointAt(0)! };
  }
  return typeof value === "object" && value !== null && "desc" in value ? findControlCharacter(value as ReflectMessage, exempt, at) : undefined;
}

/** Struct and ListValue read as the JSON they stand for: `schema.properties.api_key.title`, not `fields.properties…`. */
function inStruct(message: ReflectMessage, exempt: ReadonlySet<string>, path: string): ControlCharacterFinding | undefined {
  const fields = message.desc.fields.find((f) => f.name === "fields");
  return fields === undefined ? undefined : inField(fields, message.get(fields), exempt, path);
}

function inList(message: ReflectMessage, exempt: ReadonlySet<string>, path: string): ControlCharacterFinding | undefined {
  const values = message.desc.fields.find((f) => f.name === "values");
  return values === undefined ? undefined : inField(values, message.get(values), exempt, path);
}

/** A field path; a key that is not a plain word is quoted, so the path never holds the bad character itself. */
function join(path: string, name: string): string {
  const part = /^[\w-]+$/.test(name) ? name : JSON.stringify(name);
  return path === "" ? part : `${path}.${part}`;
}
