import { CliError } from "../cli-io.ts";

/** One thing wrong with a manifest, located in its file. */
export interface ManifestProblem {
  readonly line: number;
  readonly col: number;
  /** A JSONPath into the manifest, such as `$.providers[1].name`. */
  readonly path: string;
  readonly message: string;
}

/**
 * Every problem found in a manifest, reported at once (an operator fixes them
 * in one pass, not one per run). Nothing has been changed when it is thrown.
 */
export class ManifestError extends CliError {
  readonly problems: readonly ManifestProblem[];

  constructor(file: string, problems: readonly ManifestProblem[]) {
    const sorted = [...problems].sort((a, b) => a.line - b.line || a.col - b.col || a.path.localeCompare(b.path));
    const count = sorted.length === 1 ? "1 problem" : `${sorted.length} problems`;
    super(`${file} has ${count}; nothing was changed:\n${sorted.map((p) => `  ${file}:${p.line}:${p.col}: ${p.path}: ${p.message}`).join("\n")}`);
    this.name = "ManifestError";
    this.problems = sorted;
  }
}
