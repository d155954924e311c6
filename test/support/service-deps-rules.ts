import type { SourceFile, Violation } from "./architecture-rules.ts";

/**
 * "Each service declares the dependencies it uses; no service locator"
 * (aesthetics.md). Checked on the text of src/broker/services/ and
 * src/broker/refresh/, as the import rules are: every exported function whose
 * first parameter is `deps` (or destructures one) takes a `*Deps` interface
 * declared in its own file, and uses every member that interface declares
 * itself. A member counts as used when the file reads it (`deps.x`, or
 * destructures it) or hands `deps` on whole (`f(deps)`, `f({ ...deps })`) to
 * another checked function whose own deps type names it. A member narrowed
 * with `Pick<Port, "a" | "b">` must call each picked method somewhere in the
 * file, unless it is handed on or passed as a value.
 */
export function checkServiceDeps(files: readonly SourceFile[]): Violation[] {
  const checked = files.filter((f) => /^src\/broker\/(services|refresh)\//.test(f.path));
  const interfaces = new Map<string, DepsInterface>();
  for (const file of checked) for (const i of interfacesIn(file.source)) interfaces.set(i.name, i);
  const factories = checked.flatMap((file) => factoriesIn(file.source).map((f) => ({ ...f, file })));
  /** Every member a function's deps type names, inherited ones included. */
  const membersOf = (typeName: string, seen = new Set<string>()): string[] => {
    const i = interfaces.get(typeName);
    if (i === undefined || seen.has(typeName)) return [];
    seen.add(typeName);
    return [...i.members.map((m) => m.name), ...i.extends.flatMap((e) => membersOf(e, seen))];
  };
  const byName = new Map(factories.map((f) => [f.name, f.typeName]));

  const violations: Violation[] = [];
  for (const f of factories) {
    const own = interfacesIn(f.file.source).find((i) => i.name === f.typeName);
    if (own === undefined) {
      violations.push({ file: f.file.path, specifier: `${f.name}(${f.typeName})`, rule: ruleOwnFile });
      continue;
    }
    const code = stripComments(f.file.source);
    const direct = new Set([...f.bound, ...readsOf(code)]);
    const handedOn = new Set<string>();
    for (const callee of escapesOf(code)) {
      // A helper in the same file reads deps.x itself; those reads are counted above.
      if (new RegExp(`^(?:async )?function ${callee}\\b`, "m").test(code)) continue;
      const typeName = byName.get(callee);
      if (typeName === undefined) {
        violations.push({ file: f.file.path, specifier: `${callee}(deps)`, rule: ruleEscape });
        continue;
      }
      for (const m of membersOf(typeName)) handedOn.add(m);
    }
    for (const member of own.members) {
      if (!direct.has(member.name) && !handedOn.has(member.name)) {
        violations.push({ file: f.file.path, specifier: `${f.typeName}.${member.name}`, rule: ruleUnused });
        continue;
      }
      // Handed on, or passed as a value (`f(deps.sealer)`): what the callee calls is not in this file.
      if (handedOn.has(member.name) || new RegExp(`\\bdeps\\.${member.name}\\b(?!\\??\\.)`).test(code)) continue;
      for (const key of member.picked) {
        if (!new RegExp(`\\.${key}\\b`).test(code)) {
          violations.push({ file: f.file.path, specifier: `${f.typeName}.${member.name}.${key}`, rule: ruleUnused });
        }
      }
    }
  }
  return violations;
}

const ruleOwnFile = "a service declares the dependencies it uses in its own file, not in a shared deps object";
const ruleUnused = "a service's deps type names only what the service uses";
const ruleEscape = "a service hands its deps on whole only to a checked service";

interface DepsInterface {
  readonly name: string;
  readonly extends: readonly string[];
  readonly members: readonly { readonly name: string; readonly picked: readonly string[] }[];
}

/** `export interface XDeps [extends A, B] { ... }`: the members declared at the first level, and what a Pick picks. */
function interfacesIn(source: string): DepsInterface[] {
  const out: DepsInterface[] = [];
  for (const m of source.matchAll(/^export interface (\w+Deps)(?: extends ([\w, ]+))? \{\n([\s\S]*?)^\}/gm)) {
    const members = [...m[3]!.matchAll(/^ {2}(?:readonly )?(\w+)\??: (.*)$/gm)].map((line) => {
      const pick = /^Pick<\w+, ((?:"\w+"(?: \| )?)+)>/.exec(line[2]!);
      return { name: line[1]!, picked: pick === null ? [] : [...pick[1]!.matchAll(/"(\w+)"/g)].map((k) => k[1]!) };
    });
    out.push({ name: m[1]!, extends: m[2] === undefined ? [] : m[2].split(",").map((s) => s.trim()), members });
  }
  return out;
}

/** Exported functions whose first parameter is `deps: T` or `{ a, b }: T`, with T a `*Deps` name. */
function factoriesIn(source: string): { name: string; typeName: string; bound: string[] }[] {
  const out: { name: string; typeName: string; bound: string[] }[] = [];
  const pattern = /^export (?:async )?function (\w+)(?:<[^>]*>)?\(\s*(deps|\{[^}]*\}): (\w+Deps)\b/gm;
  for (const m of source.matchAll(pattern)) {
    const bound = m[2] === "deps" ? [] : m[2]!.slice(1, -1).split(",").map((s) => s.trim().split(/[:=\s]/)[0]!).filter((s) => s !== "");
    out.push({ name: m[1]!, typeName: m[3]!, bound });
  }
  // A function taking deps of an untyped or foreign shape is a locator in disguise: report it too.
  for (const m of source.matchAll(/^export (?:async )?function (\w+)(?:<[^>]*>)?\(\s*deps: (?!\w+Deps\b)([^,)]+)/gm)) {
    out.push({ name: m[1]!, typeName: m[2]!.trim(), bound: [] });
  }
  return out;
}

/** Members read from `deps`: `deps.x`, `deps?.x`, and `const { x, y } = deps`. */
function readsOf(code: string): string[] {
  const reads = [...code.matchAll(/\bdeps\??\.(\w+)/g)].map((m) => m[1]!);
  for (const m of code.matchAll(/\{([^{}]*)\} = deps\b/g)) reads.push(...m[1]!.split(",").map((s) => s.trim().split(/[:=\s]/)[0]!));
  return reads;
}

/**
 * Functions `deps` is handed to whole: `f(deps`, `f({ ...deps`, or through
 * `const x = { ...deps` then `f(x`; a parameter (`f(deps: T`) is not a use.
 */
function escapesOf(code: string): string[] {
  const names = ["deps", ...[...code.matchAll(/const (\w+) = \{ \.\.\.deps\b/g)].map((m) => m[1]!)];
  const callees = new Set<string>();
  for (const name of names) {
    for (const m of code.matchAll(new RegExp(`(\\w+)\\((?:\\{ \\.\\.\\.)?${name}\\b(?!\\??\\.|\\??:)`, "g"))) callees.add(m[1]!);
  }
  return [...callees];
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
}
