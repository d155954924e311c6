import { type Document, isMap, isScalar, type LineCounter, type Node } from "yaml";

/** A step of a path into the manifest: a key or an array index. */
export type PathSegment = string | number;

/** Where things are in a manifest's text. */
export interface SourceMap {
  /**
   * The line and column (1-based) of the value at `path`, or with `key` of
   * that key inside the mapping at `path`; the nearest enclosing node when
   * the exact one is missing (a required key, say).
   */
  at(path: readonly PathSegment[], key?: string): { line: number; col: number };
}

/**
 * Maps paths to positions through the parsed YAML document (JSON is YAML
 * 1.2, so JSON manifests are read by the same parser and located alike).
 */
export function createSourceMap(doc: Document, lines: LineCounter): SourceMap {
  const position = (node: Node | undefined) => lines.linePos(node?.range?.[0] ?? 0);
  return {
    at(path, key) {
      for (let depth = path.length; depth >= 0; depth--) {
        const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
        if (node === undefined || node === null || !isNodeLike(node)) continue;
        if (key !== undefined && depth === path.length && isMap(node)) {
          const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
          if (pair !== undefined && isNodeLike(pair.key)) return position(pair.key);
        }
        return position(node);
      }
      return { line: 1, col: 1 };
    },
  };
}

function isNodeLike(value: unknown): value is Node {
  return typeof value === "object" && value !== null && "range" in value;
}

/** A path as JSONPath: `$.providers[1].params.pkce`. */
export function jsonPath(path: readonly PathSegment[]): string {
  return path.reduce<string>((out, s) => {
    if (typeof s === "number") return `${out}[${s}]`;
    return /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? `${out}.${s}` : `${out}[${JSON.stringify(s)}]`;
  }, "$");
}

/** A JSON Pointer (as ajv reports instance paths) as path segments; array indexes become numbers. */
export function fromJsonPointer(pointer: string): PathSegment[] {
  if (pointer === "") return [];
  return pointer.slice(1).split("/").map((raw) => {
    const s = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    return /^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s;
  });
}
