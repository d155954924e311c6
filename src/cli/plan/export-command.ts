import { Document } from "yaml";
import type { CliContext } from "../cli-context.ts";
import { exitCodes } from "../cli-io.ts";
import { exportManifest } from "./export-manifest.ts";
import { readLiveState } from "./live-state.ts";

/** Options of `nexus export`. */
export interface ExportOptions {
  readonly json?: boolean;
}

/**
 * `nexus export`: the live providers and agents as a manifest on stdout
 * (YAML, or JSON with --json), and on stderr the environment variables its
 * client secret references name, which the operator sets before plan.
 */
export async function exportCommand(context: CliContext, options: ExportOptions): Promise<number> {
  const live = await readLiveState(context.broker());
  const { manifest, variables } = exportManifest(live);
  if (options.json === true) {
    context.io.stdout(`${JSON.stringify(manifest, null, 2)}\n`);
  } else {
    const doc = new Document(manifest);
    doc.commentBefore = " Nexus manifest, written by nexus export. Check it with: nexus plan -f FILE\n" +
      " Client secrets are ${env:...} references: set each variable to the provider's secret first.";
    context.io.stdout(doc.toString({ lineWidth: 0 }));
  }
  context.io.stderr(variables.length === 0
    ? "The manifest references no client secrets.\n"
    : `Before nexus plan or apply with this manifest, set each provider's client secret:\n${variables.map((v) => `  ${v.name}  (provider ${v.provider})`).join("\n")}\n`);
  return exitCodes.ok;
}
