import { LineCounter, parseDocument } from "yaml";
import { findDuplicateNames } from "./duplicate-names.ts";
import { ManifestError, type ManifestProblem } from "./manifest-error.ts";
import type { Manifest } from "./manifest-types.ts";
import { checkSchema } from "./schema-check.ts";
import { createSourceMap, type SourceMap } from "./source-map.ts";

/** A manifest that passed every check, and where its parts are in the file. */
export interface ParsedManifest {
  readonly manifest: Manifest;
  readonly source: SourceMap;
}

/** A parsed manifest with the problems found in it: when there are any, `manifest` may be of any shape. */
export interface CheckedManifest extends ParsedManifest {
  readonly problems: readonly ManifestProblem[];
}

/**
 * Parses a manifest, YAML or JSON, and checks it strictly: YAML errors
 * (duplicate keys included), then the JSON Schema, then duplicate names.
 * Throws a {@linkcode ManifestError} naming every problem's line, column and
 * path.
 */
export function parseManifest(text: string, file: string): ParsedManifest {
  const checked = checkManifest(text, file);
  if (checked.problems.length > 0) throw new ManifestError(file, checked.problems);
  return checked;
}

/**
 * Like {@linkcode parseManifest}, but returns the schema and name problems
 * rather than throwing, so the caller can add the references it cannot read
 * and report everything at once. Text that is not YAML (or JSON) at all, or
 * is empty, still throws: there is nothing to check. A `.json` file is read
 * as strict JSON; anything else as YAML 1.2, of which JSON is a subset.
 */
export function checkManifest(text: string, file: string): CheckedManifest {
  const lines = new LineCounter();
  const json = /\.json$/i.test(file);
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, ...(json ? { schema: "json" as const } : {}) });
  const source = createSourceMap(doc, lines);
  if (doc.errors.length > 0) {
    throw new ManifestError(file, doc.errors.map((e) => ({ ...lines.linePos(e.pos[0]), path: "$", message: `not valid ${json ? "JSON" : "YAML"}: ${e.message}` })));
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) throw new ManifestError(file, [{ line: 1, col: 1, path: "$", message: "is empty; a manifest starts with version: 1" }]);
  return { manifest: data as Manifest, source, problems: [...checkSchema(data, source), ...findDuplicateNames(data, source)] };
}
