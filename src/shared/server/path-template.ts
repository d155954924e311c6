/**
 * google.api.http path templates, compiled once at startup so that matching a
 * request path is a few string comparisons and no parsing.
 *
 * Grammar (from google/api/http.proto):
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     FieldPath = IDENT { "." IDENT } ;
 *     Verb     = ":" LITERAL ;
 */

/** One variable of a template: the field it sets and the path segments it spans. */
export interface PathVariable {
  /** The field path, split at dots: `profile.name` is `["profile", "name"]`. */
  readonly fieldPath: readonly string[];
  /** Index of the first path segment the variable covers. */
  readonly start: number;
  /** Index after the last segment; -1 when it runs to the end of the path (`**`). */
  readonly end: number;
}

/** A compiled path template. */
export interface PathTemplate {
  /** The template as written in the annotation. */
  readonly source: string;
  /** The variables, in template order. */
  readonly variables: readonly PathVariable[];
  /** Literal segments (and the verb), the tie-breaker between templates matching one path. */
  readonly literalCount: number;
  /** The first segment when it is a literal, to index templates by it. */
  readonly firstLiteral: string | undefined;
  /**
   * Matches the segments of a request path, as `pathname.split("/")` gives
   * them (so index 0 is the empty string before the leading slash). Answers
   * each variable's raw, still percent-encoded value, or undefined.
   */
  match(segments: readonly string[]): string[] | undefined;
}

/** Literal, one segment (`*`) or the rest of the path (`**`). */
type Segment = { readonly kind: "literal"; readonly value: string } | { readonly kind: "one" } | { readonly kind: "rest" };

const identPattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Compiles a path template. Throws on a malformed template: annotations are
 * part of the contract, so a bad one is a build fault to surface at startup.
 */
export function createPathTemplate(source: string): PathTemplate {
  const fail = (why: string): never => {
    throw new Error(`path template ${JSON.stringify(source)}: ${why}`);
  };
  if (!source.startsWith("/")) fail("must start with /");
  const { parts, verb } = splitTopLevel(source.slice(1), fail);
  const segments: Segment[] = [];
  const variables: PathVariable[] = [];
  for (const part of parts) {
    if (part.startsWith("{")) {
      if (!part.endsWith("}")) fail(`variable ${part} is not closed`);
      const inner = part.slice(1, -1);
      const eq = inner.indexOf("=");
      const fieldPath = (eq < 0 ? inner : inner.slice(0, eq)).split(".");
      if (!fieldPath.every((name) => identPattern.test(name))) fail(`variable ${part} has an invalid field path`);
      const start = segments.length;
      const pattern = eq < 0 ? ["*"] : inner.slice(eq + 1).split("/");
      for (const p of pattern) segments.push(parseSegment(p, fail));
      const rest = segments[segments.length - 1]?.kind === "rest";
      variables.push({ fieldPath, start, end: rest ? -1 : segments.length });
    } else {
      segments.push(parseSegment(part, fail));
    }
  }
  if (segments.slice(0, -1).some((s) => s.kind === "rest")) fail("** must be the last segment");
  const hasRest = segments[segments.length - 1]?.kind === "rest";
  const fixed = hasRest ? segments.length - 1 : segments.length;
  const literalCount = segments.filter((s) => s.kind === "literal").length + (verb === undefined ? 0 : 1);
  const first = segments[0];
  const verbSuffix = verb === undefined ? undefined : `:${verb}`;

  function match(path: readonly string[]): string[] | undefined {
    // path[0] is the empty string before the leading slash.
    const count = path.length - 1;
    if (hasRest ? count < fixed : count !== fixed) return undefined;
    let last = path[path.length - 1] ?? "";
    if (verbSuffix !== undefined) {
      if (!last.endsWith(verbSuffix)) return undefined;
      last = last.slice(0, -verbSuffix.length);
    }
    for (let i = 0; i < fixed; i++) {
      const value = i === count - 1 ? last : (path[i + 1] as string);
      const segment = segments[i] as Segment;
      if (segment.kind === "literal" ? value !== segment.value : value === "") return undefined;
    }
    const values: string[] = [];
    for (const variable of variables) {
      if (variable.end < 0) {
        const tail = path.slice(variable.start + 1);
        if (verbSuffix !== undefined && tail.length > 0) tail[tail.length - 1] = last;
        values.push(tail.join("/"));
      } else if (variable.end === variable.start + 1) {
        values.push(variable.start === count - 1 ? last : (path[variable.start + 1] as string));
      } else {
        const span = path.slice(variable.start + 1, variable.end + 1);
        if (variable.end === count) span[span.length - 1] = last;
        values.push(span.join("/"));
      }
    }
    return values;
  }

  return {
    source,
    variables,
    literalCount,
    // A lone segment with a verb shows up in the path as "literal:verb", so it cannot be an index key.
    firstLiteral: first?.kind === "literal" && !(verb !== undefined && segments.length === 1) ? first.value : undefined,
    match,
  };
}

/**
 * Percent-decodes a captured variable. A multi-segment capture keeps `%2F`
 * encoded so that a decoded slash cannot be told apart from a separator.
 * Answers undefined for a malformed escape.
 */
export function decodePathValue(raw: string, multiSegment: boolean): string | undefined {
  if (!raw.includes("%")) return raw;
  try {
    if (!multiSegment) return decodeURIComponent(raw);
    return raw
      .split(/%2F/i)
      .map((part) => decodeURIComponent(part))
      .join("%2F");
  } catch {
    return undefined;
  }
}

function parseSegment(text: string, fail: (why: string) => never): Segment {
  if (text === "*") return { kind: "one" };
  if (text === "**") return { kind: "rest" };
  if (text === "" || /[{}=*]/.test(text)) fail(`invalid segment ${JSON.stringify(text)}`);
  return { kind: "literal", value: text };
}

/** Splits at slashes outside braces, and takes the verb off the end. */
function splitTopLevel(text: string, fail: (why: string) => never): { parts: string[]; verb: string | undefined } {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  let verb: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "{") {
      if (depth > 0) fail("variables cannot nest");
      depth++;
    } else if (c === "}") {
      if (depth === 0) fail("unbalanced }");
      depth--;
    } else if (depth === 0 && c === "/") {
      parts.push(current);
      current = "";
      continue;
    } else if (depth === 0 && c === ":") {
      verb = text.slice(i + 1);
      if (verb === "" || verb.includes("/") || /[{}*]/.test(verb)) fail("invalid verb");
      break;
    }
    current += c;
  }
  if (depth !== 0) fail("unbalanced {");
  parts.push(current);
  return { parts, verb };
}
