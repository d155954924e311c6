/**
 * Which files of the repository are pages of the documentation site, and
 * where each one lands. The site is built from the files as they are (VitePress
 * reads the repository root, site/.vitepress/config.ts excludes everything
 * else), so a page added to docs/ is a page of the site at the next build;
 * the tests check that the navigation lists it.
 *
 * Pages: every Markdown file under docs/, plus README.md (the project
 * overview), CHANGELOG.md and BENCHMARKS.md from the root. A file of the
 * repository that a page links to but that is no page (an example, a deploy
 * configuration, a schema) gets a read-only source view under /source/.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { readVersion } from "../scripts/version.ts";

/** The repository's root directory (absolute, with a trailing slash). */
export const repoRoot = fileURLToPath(new URL("../", import.meta.url));

/** The version the site documents: VERSION at the root, as the packages read it. */
export function siteVersion(root = repoRoot): string {
  return readVersion(root);
}

/** Root files that are pages, with the site path each gets. */
const rootPages: Record<string, string> = { "README.md": "overview.md", "CHANGELOG.md": "changelog.md", "BENCHMARKS.md": "benchmarks.md" };

/** Where the source views' dynamic route lives (site/pages/source/[path].md). */
export const sourceRoute = "site/pages/source/[path].md";

/** Markdown files under `dir` (relative to the root), sorted. */
function markdownUnder(dir: string, root: string): string[] {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? markdownUnder(`${dir}/${e.name}`, root) : e.name.endsWith(".md") ? [`${dir}/${e.name}`] : []))
    .sort();
}

/** Every page's source file, relative to the repository root: docs/**, then the root pages that exist. */
export function sitePageFiles(root = repoRoot): string[] {
  return [...markdownUnder("docs", root), ...Object.keys(rootPages).filter((f) => existsSync(join(root, f)))];
}

/**
 * The site path (VitePress's rewrite, still ending in .md) of a source file:
 * docs/X.md is X.md, a folder's README.md is its index.md (docs/README.md is
 * the home page), the root pages get lower-case names, and the source views'
 * route loses its site/pages/ prefix.
 */
export function sitePath(file: string): string {
  if (file in rootPages) return rootPages[file]!;
  if (file.startsWith("site/pages/")) return file.slice("site/pages/".length);
  const inDocs = file.startsWith("docs/") ? file.slice("docs/".length) : file;
  return inDocs.replace(/(^|\/)README\.md$/, "$1index.md");
}

/** The URL of a site path as a link (no extension: VitePress adds .html). */
export function siteLink(path: string): string {
  return `/${path.replace(/\.md$/, "").replace(/(^|\/)index$/, "$1")}`;
}

/**
 * Where the source view of a repository file or folder lands. A name ending
 * in .md or .html gets `.source` first: VitePress strips one such extension
 * from a link, so README.md.md would be read as README.
 */
export function sourceViewPath(repoPath: string): string {
  return `source/${repoPath}${/\.(md|html)$/.test(repoPath) ? ".source" : ""}.md`;
}

/**
 * Repository files and folders (relative to the root) that pages link to but
 * that are not pages themselves, with every file inside a linked folder.
 */
export function linkedSourceFiles(root = repoRoot): string[] {
  const pages = new Set(sitePageFiles(root));
  const found = new Set<string>();
  const add = (path: string) => {
    found.add(path);
    if (statSync(join(root, path)).isDirectory()) {
      for (const e of readdirSync(join(root, path))) if (!e.startsWith(".")) add(`${path}/${e}`);
    }
  };
  for (const page of pages) {
    for (const target of relativeLinks(readFileSync(join(root, page), "utf8"))) {
      const path = resolveLink(page, target);
      if (path !== undefined && !pages.has(path) && existsSync(join(root, path))) add(path);
    }
  }
  return [...found].sort();
}

/** The targets of a page's relative Markdown links (outside code), without their #anchor. */
export function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1\s*$/gm, "");
  return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((m) => m[1]!.split("#")[0]!)
    .filter((t) => t !== "" && !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith("/"));
}

/** A relative link of `page` as a path relative to the root, or undefined when it leaves the repository. */
export function resolveLink(page: string, target: string): string | undefined {
  const path = normalize(join(dirname(page), decodeURIComponent(target))).replace(/\/$/, "");
  return path.startsWith("..") ? undefined : path === "." ? "" : relative(".", path);
}
