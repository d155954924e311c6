import type { ManifestProblem } from "./manifest-error.ts";
import { jsonPath, type PathSegment, type SourceMap } from "./source-map.ts";

/**
 * Names the JSON Schema cannot check: a provider name twice, an agent name
 * twice, or a provider alias that is already a provider's name or another
 * alias (the Broker finds providers by either, so each must be unique).
 * Reads `data` defensively, so it runs alongside the schema check even on a
 * manifest of the wrong shape and every problem is reported at once.
 */
export function findDuplicateNames(data: unknown, source: SourceMap): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const problem = (path: PathSegment[], message: string) => problems.push({ ...source.at(path), path: jsonPath(path), message });
  const lineOf = (path: PathSegment[]) => source.at(path).line;
  const root = record(data);
  const providers = list(root.providers).map(record);
  const agents = list(root.agents).map(record);

  const providerNames = firstOccurrences(providers, "providers", (at, name, first) => problem(at, `duplicate provider name "${name}" (first at line ${lineOf(first)})`));
  const aliases = new Map<string, PathSegment[]>();
  providers.forEach((p, i) => {
    list(p.aliases).forEach((alias, j) => {
      if (typeof alias !== "string") return;
      const at: PathSegment[] = ["providers", i, "aliases", j];
      const named = providerNames.get(alias);
      const earlier = aliases.get(alias);
      if (named !== undefined) problem(at, `alias "${alias}" is also a provider's name (line ${lineOf(named)})`);
      else if (earlier !== undefined) problem(at, `duplicate alias "${alias}" (first at line ${lineOf(earlier)})`);
      else aliases.set(alias, at);
    });
  });
  firstOccurrences(agents, "agents", (at, name, first) => problem(at, `duplicate agent name "${name}" (first at line ${lineOf(first)})`));
  return problems;
}

/** Where each name is first used; `duplicate` is told of every later use. */
function firstOccurrences(
  entries: readonly Record<string, unknown>[],
  section: string,
  duplicate: (at: PathSegment[], name: string, first: PathSegment[]) => void,
): Map<string, PathSegment[]> {
  const seen = new Map<string, PathSegment[]>();
  entries.forEach((entry, i) => {
    if (typeof entry.name !== "string") return;
    const at: PathSegment[] = [section, i, "name"];
    const first = seen.get(entry.name);
    if (first !== undefined) duplicate(at, entry.name, first);
    else seen.set(entry.name, at);
  });
  return seen;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
