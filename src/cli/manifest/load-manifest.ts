import { CliError, type CliIo } from "../cli-io.ts";
import type { ResolvedManifest } from "./manifest-types.ts";
import { checkManifest } from "./parse-manifest.ts";
import { resolveReferences } from "./resolve-references.ts";

/**
 * Reads, checks and resolves the manifest at `file`: the one entry point of
 * plan and apply. Throws a CliError (a ManifestError listing every problem,
 * of shape, names and references alike) before anything is asked of the Broker.
 */
export async function loadManifest(file: string, io: Pick<CliIo, "env" | "readFile">): Promise<ResolvedManifest> {
  let text: string;
  try {
    text = await io.readFile(file);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new CliError(`cannot read the manifest ${file}${typeof code === "string" ? ` (${code === "ENOENT" ? "no such file" : code})` : ""}`);
  }
  return resolveReferences(checkManifest(text, file), file, io);
}
