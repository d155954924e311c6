/**
 * Writes the generated sections of docs/cli.md, so they cannot drift from
 * what they describe: the manifest reference from schemas/manifest.v1.schema.json,
 * and the help of every `nexus` command as `nexus <command> --help` prints it.
 * Each section sits between `<!-- generated:NAME -->` and `<!-- end:NAME -->`;
 * the rest of the page is prose and is left alone.
 *
 *   npx tsx scripts/cli-reference.ts              rewrite the sections of docs/cli.md
 *   npx tsx scripts/cli-reference.ts --check      exit 1 when a section is stale
 *   npx tsx scripts/cli-reference.ts --file FILE  work on FILE instead
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { CliIo } from "../src/cli/cli-io.ts";
import { runCli } from "../src/cli/run-cli.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** A JSON Schema node, as far as the manifest schema uses it. */
interface Schema {
  $ref?: string;
  type?: string;
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  maxLength?: number;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  oneOf?: Schema[];
  $defs?: Record<string, Schema>;
}

// ---------------------------------------------------------------------------
// The manifest reference

/** One table per object: the manifest itself, then every object it reaches, in the order first reached. */
export function manifestReference(schema: Schema): string {
  const defs = schema.$defs ?? {};
  const resolveRef = (s: Schema): [string | undefined, Schema] => {
    if (s.$ref === undefined) return [undefined, s];
    const name = /^#\/\$defs\/(.+)$/.exec(s.$ref)?.[1];
    const target = name === undefined ? undefined : defs[name];
    if (name === undefined || target === undefined) throw new Error(`schema: unresolved $ref ${s.$ref}`);
    return [name, target];
  };
  const isObject = (s: Schema) => s.type === "object" && s.properties !== undefined;
  const code = (v: unknown) => `\`${typeof v === "string" ? v : JSON.stringify(v)}\``;
  const done = new Set<string>();
  const out: string[] = [];

  /** A section per object, then the objects it reaches, depth first (a provider's params follow the provider). */
  const section = (title: string, s: Schema): void => {
    if (done.has(title)) return;
    done.add(title);
    const children: [string, Schema][] = [];
    const link = (name: string, target: Schema) => {
      if (!children.some(([t]) => t === name)) children.push([name, target]);
      return `[${name}](#manifest-${anchor(name)})`;
    };
    /** The type column: a link for objects, the shape for the rest. */
    const typeOf = (p: Schema, path: string): string => {
      const [name, target] = resolveRef(p);
      if (name === "secretReference") return "secret reference: `${env:NAME}` or `${file:PATH}`";
      if (isObject(target)) return link(name ?? path, target);
      if (target.const !== undefined) return code(target.const);
      if (target.enum !== undefined) return `one of ${target.enum.map(code).join(", ")}`;
      if (target.oneOf !== undefined) return target.oneOf.map((o) => typeOf(o, path)).join(", or ");
      if (target.type === "array") return `list of ${target.items === undefined ? "values" : typeOf(target.items, path)}`;
      if (target.type === "object") {
        return typeof target.additionalProperties === "object" ? `map of string to ${typeOf(target.additionalProperties, path)}` : "JSON object";
      }
      const limits = [
        target.pattern === undefined ? "" : (name === "name" ? "lowercase kebab-case" : `matching ${code(target.pattern)}`),
        target.maxLength === undefined ? "" : `at most ${target.maxLength} characters`,
      ].filter((x) => x !== "");
      return `${target.type ?? "any"}${limits.length > 0 ? ` (${limits.join(", ")})` : ""}`;
    };
    const required = new Set(s.required ?? []);
    const rows = Object.entries(s.properties ?? {}).map(([field, p]) => {
      const [, target] = resolveRef(p);
      const type = typeOf(p, title === "manifest" ? field : `${title}.${field}`);
      return `| \`${field}\` | ${cell(type)} | ${required.has(field) ? "yes" : ""} | ${cell(prose(p.description ?? target.description ?? ""))} |`;
    });
    out.push(`### <a id="manifest-${anchor(title)}"></a>${title === "manifest" ? "The manifest" : `\`${title}\``}`, "");
    if (s.description !== undefined) out.push(prose(s.description), "");
    out.push("| Key | Type | Required | Description |", "|---|---|---|---|", ...rows, "");
    if (s.additionalProperties === false) out.push("Any other key is an error.", "");
    for (const [name, target] of children) section(name, target);
  };

  section("manifest", schema);
  const secret = defs.secretReference;
  if (secret !== undefined) {
    out.push(`### <a id="manifest-secret-references"></a>Secret references`, "", prose(secret.description ?? ""), "",
      `A reference is the whole value, matching ${code(secret.pattern)}; anything else where a secret belongs is an error.`, "");
  }
  return out.join("\n").trimEnd();
}

/** Schema prose as Markdown: references such as ${env:NAME} in code spans. */
const prose = (text: string) => text.replace(/(?<!`)\$\{[^}]+\}(?!`)/g, (m) => `\`${m}\``);
const anchor = (title: string) => title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
const cell = (text: string) => text.replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|");

// ---------------------------------------------------------------------------
// The command help

/** What `nexus <argv>` prints to stdout, run in process with no Broker configured. */
async function nexusOutput(argv: readonly string[]): Promise<string> {
  let out = "";
  const io: CliIo = {
    stdout: (text) => void (out += text),
    stderr: (text) => void (out += text),
    env: {}, interactive: false, color: false,
    readFile: () => Promise.reject(new Error("no files here")),
    confirm: async () => false,
    now: () => 0,
    sleep: async () => {},
    interrupted: new AbortController().signal,
    fetch: () => Promise.reject(new Error("no network here")),
  };
  const code = await runCli(argv, io);
  if (code !== 0) throw new Error(`nexus ${argv.join(" ")} exited ${code}: ${out}`);
  return out;
}

/** The subcommands a help text lists under "Commands:" (except `help`). */
function subcommands(help: string): string[] {
  const block = /\nCommands:\n([\s\S]*?)(?:\n\n|$)/.exec(help)?.[1] ?? "";
  return [...block.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]!).filter((name) => name !== "help");
}

/** `nexus --help`, then every command's and subcommand's, depth first, in the order help lists them. */
export async function commandHelp(): Promise<string> {
  const out: string[] = [];
  const visit = async (path: string[]): Promise<void> => {
    const help = (await nexusOutput([...path, "--help"])).trimEnd();
    const title = ["nexus", ...path].join(" ");
    out.push(`### <a id="help-${anchor(title)}"></a>\`${title}\``, "", "```text", help, "```", "");
    for (const name of subcommands(help)) await visit([...path, name]);
  };
  await visit([]);
  return out.join("\n").trimEnd();
}

// ---------------------------------------------------------------------------
// The page

/** `page` with the text between `<!-- generated:NAME -->` and `<!-- end:NAME -->` replaced by `body`. */
export function replaceSection(page: string, name: string, body: string): string {
  const start = `<!-- generated:${name} -->`;
  const end = `<!-- end:${name} -->`;
  const from = page.indexOf(start);
  const to = page.indexOf(end);
  if (from === -1 || to === -1 || to < from) throw new Error(`the page has no section ${start} ... ${end}`);
  const note = `<!-- Generated by scripts/cli-reference.ts: do not edit by hand; run \`npx tsx scripts/cli-reference.ts\`. -->`;
  return `${page.slice(0, from + start.length)}\n${note}\n\n${body}\n\n${page.slice(to)}`;
}

/** The page with every generated section brought up to date. */
export async function regenerate(page: string): Promise<string> {
  const schema = JSON.parse(readFileSync(join(root, "schemas/manifest.v1.schema.json"), "utf8")) as Schema;
  return replaceSection(replaceSection(page, "manifest-reference", manifestReference(schema)), "command-help", await commandHelp());
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = parseArgs({ options: { check: { type: "boolean", default: false }, file: { type: "string" } } }).values;
  const target = resolve(args.file ?? join(root, "docs/cli.md"));
  const shown = relative(process.cwd(), target).startsWith("..") ? target : relative(process.cwd(), target);
  const current = existsSync(target) ? readFileSync(target, "utf8") : "";
  let text: string;
  try {
    text = await regenerate(current);
  } catch (error) {
    process.stderr.write(`scripts/cli-reference.ts: ${shown}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  if (args.check) {
    if (current !== text) {
      const [a, b] = [current.split("\n"), text.split("\n")];
      let line = 0;
      while (a[line] === b[line]) line++;
      process.stderr.write(`${shown} is stale: its generated sections differ from the manifest schema or the commands' help ` +
        `(first difference at line ${line + 1}). Run \`npx tsx scripts/cli-reference.ts\` and commit ${shown}.\n`);
      process.exit(1);
    }
    process.stdout.write(`${shown} is up to date\n`);
  } else {
    writeFileSync(target, text);
    process.stdout.write(`wrote ${shown}\n`);
  }
}
