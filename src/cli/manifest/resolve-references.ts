import type { CliIo } from "../cli-io.ts";
import { ManifestError, type ManifestProblem } from "./manifest-error.ts";
import type { JsonObject, ManifestAgent, ManifestProvider, ResolvedManifest } from "./manifest-types.ts";
import type { CheckedManifest } from "./parse-manifest.ts";
import { jsonPath, type PathSegment } from "./source-map.ts";

const reference = /^\$\{(env|file):([^}]+)\}$/;

/**
 * Reads every `${env:NAME}` and `${file:PATH}` reference of a manifest:
 * client secrets, and JWK Sets given by reference. A file path is relative
 * to the manifest's folder; its trailing newlines are dropped. Every
 * reference that cannot be read is reported at once with the manifest's
 * other problems, by the reference and its line, never by a value; nothing
 * has been asked of the Broker yet. Reads defensively: a manifest with
 * problems may be of any shape.
 */
export async function resolveReferences(checked: CheckedManifest, file: string, io: Pick<CliIo, "env" | "readFile">): Promise<ResolvedManifest> {
  const problems: ManifestProblem[] = [...checked.problems];
  const problem = (path: PathSegment[], message: string) => problems.push({ ...checked.source.at(path), path: jsonPath(path), message });
  const read = async (ref: string, path: PathSegment[]): Promise<string | undefined> => {
    const result = await readReference(ref, file, io);
    if (typeof result === "string") return result;
    problem(path, `${ref}: ${result.problem}`);
    return undefined;
  };
  const providers = await Promise.all(entries<ManifestProvider>(checked.manifest.providers).map(async (entry, i) => {
    if (typeof entry.client_secret !== "string" || !reference.test(entry.client_secret)) return { entry };
    const clientSecret = await read(entry.client_secret, ["providers", i, "client_secret"]);
    return clientSecret === undefined ? { entry } : { entry, clientSecret };
  }));
  const agents = await Promise.all(entries<ManifestAgent>(checked.manifest.agents).map(async (entry, i) => {
    if (typeof entry.jwks !== "string" || !reference.test(entry.jwks)) return { entry, jwks: typeof entry.jwks === "object" ? entry.jwks : null };
    const text = await read(entry.jwks, ["agents", i, "jwks"]);
    const jwks = text === undefined ? null : parseJwkSet(text);
    if (jwks === undefined) problem(["agents", i, "jwks"], `${entry.jwks}: is not a JWK Set (JSON with a "keys" array)`);
    return { entry, jwks: jwks ?? null };
  }));
  if (problems.length > 0) throw new ManifestError(file, problems);
  const secrets = providers.flatMap((p) => (p.clientSecret === undefined ? [] : [p.clientSecret]));
  return { file, source: checked.source, providers, agents, secrets };
}

/** The value a reference names, or why it cannot be read (never the value). */
async function readReference(ref: string, manifestFile: string, io: Pick<CliIo, "env" | "readFile">): Promise<string | { problem: string }> {
  const [, kind, name] = reference.exec(ref) as unknown as [string, "env" | "file", string];
  if (kind === "env") {
    const value = io.env[name];
    if (value === undefined) return { problem: `the environment variable ${name} is not set` };
    return value === "" ? { problem: `the environment variable ${name} is empty` } : value;
  }
  const path = besideManifest(manifestFile, name);
  try {
    const value = (await io.readFile(path)).replace(/[\r\n]+$/, "");
    return value === "" ? { problem: `the file ${path} is empty` } : value;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { problem: `cannot read ${path}${typeof code === "string" ? ` (${code === "ENOENT" ? "no such file" : code})` : ""}` };
  }
}

/** `path` relative to the manifest's folder, unless absolute. */
function besideManifest(manifestFile: string, path: string): string {
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path)) return path;
  const slash = Math.max(manifestFile.lastIndexOf("/"), manifestFile.lastIndexOf("\\"));
  return slash < 0 ? path : `${manifestFile.slice(0, slash + 1)}${path}`;
}

/** The object entries of a list that may be anything. */
function entries<T>(value: unknown): T[] {
  return (Array.isArray(value) ? value : []).map((v) => (typeof v === "object" && v !== null && !Array.isArray(v) ? v : {}) as T);
}

function parseJwkSet(text: string): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(text);
    const ok = typeof value === "object" && value !== null && !Array.isArray(value) && Array.isArray((value as { keys?: unknown }).keys);
    return ok ? (value as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}
