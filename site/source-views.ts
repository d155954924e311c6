/**
 * The source view of a repository file or folder that a page links to: the
 * file in a code block, or the folder's files as links to their own views.
 * The site stays whole without a repository host: what a page names, a
 * reader can open.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { repoRoot, sourceViewPath } from "./site-pages.ts";

/** The highlighting language of a file, by its name; text when none fits. */
export function sourceLanguage(path: string): string {
  const byExtension: Record<string, string> = {
    ".ts": "ts", ".mjs": "js", ".js": "js", ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".md": "md",
    ".sh": "sh", ".py": "python", ".sql": "sql", ".proto": "proto", ".toml": "toml",
    ".service": "ini", ".timer": "ini", ".socket": "ini",
  };
  if (extname(path) === ".conf" && path.includes("nginx")) return "nginx";
  return byExtension[extname(path)] ?? "text";
}

/** The Markdown of the view of `path` (relative to the repository root); `views` are all the paths that have one. */
export function sourceView(path: string, views: ReadonlySet<string>, root = repoRoot): string {
  const abs = join(root, path);
  if (statSync(abs).isDirectory()) {
    const entries = readdirSync(abs, { withFileTypes: true }).filter((e) => !e.name.startsWith(".")).sort((a, b) => a.name.localeCompare(b.name));
    const rows = entries.map((e) => `| [${e.name}${e.isDirectory() ? "/" : ""}](/${sourceViewPath(`${path}/${e.name}`)}) |`);
    return `# \`${path}/\`\n\nThe folder \`${path}/\` of the repository holds:\n\n| file |\n|---|\n${rows.join("\n")}\n`;
  }
  const text = readFileSync(abs, "utf8");
  // A fence longer than any run of backticks in the file, so the file cannot close it.
  const fence = "`".repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));
  const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : undefined;
  const up = parent === undefined || !views.has(parent) ? "" : ` It is in [\`${parent}/\`](/${sourceViewPath(parent)}).`;
  return `# \`${basename(path)}\`\n\n\`${path}\`, as it is in the repository this site was built from.${up}\n\n${fence}${sourceLanguage(path)}\n${text.replace(/\n?$/, "\n")}${fence}\n`;
}
