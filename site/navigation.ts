/**
 * The site's navigation: four zones (Concepts, Getting Started, Guides,
 * Reference), each a list of pages named by their source file. The provider
 * template pages are listed from docs/providers/ as they are, so templates
 * added there appear without an edit here. test/e2e/docs-site.test.ts fails
 * when a page of the site is in no zone.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, siteLink, sitePageFiles, sitePath } from "./site-pages.ts";

/** A page in the navigation. */
export interface NavPage {
  readonly text: string;
  /** Its source file, relative to the repository root. */
  readonly file: string;
}

/** A group of pages inside a zone (the provider templates). */
export interface NavGroup {
  readonly text: string;
  readonly index: NavPage;
  readonly pages: readonly NavPage[];
}

/** One of the four zones. */
export interface Zone {
  readonly text: string;
  /** The page the zone's entry in the top bar opens. */
  readonly landing: string;
  readonly items: readonly (NavPage | NavGroup)[];
}

/** The first level-1 heading of a page, without Markdown code marks; the file name when it has none. */
export function pageTitle(file: string, root = repoRoot): string {
  const heading = /^#\s+(.+)$/m.exec(readFileSync(join(root, file), "utf8"))?.[1];
  return heading === undefined ? file : heading.replace(/`/g, "").trim();
}

/** The provider template pages, when docs/providers/ exists: its README as the index, every other page by title. */
function providerTemplates(root: string): NavGroup[] {
  const index = "docs/providers/README.md";
  if (!existsSync(join(root, index))) return [];
  const pages = sitePageFiles(root)
    .filter((f) => f.startsWith("docs/providers/") && f !== index)
    .map((file) => ({ text: pageTitle(file, root), file }))
    .sort((a, b) => a.text.localeCompare(b.text));
  return [{ text: "Provider templates", index: { text: "All templates", file: index }, pages }];
}

/** The four zones, in reading order. */
export function zones(root = repoRoot): Zone[] {
  return [
    {
      text: "Concepts",
      landing: "docs/how-nexus-works.md",
      items: [
        { text: "How Nexus works", file: "docs/how-nexus-works.md" },
        { text: "Security model", file: "docs/security.md" },
        { text: "Refresh and lifecycle", file: "docs/refresh.md" },
        { text: "Architecture", file: "docs/architecture.md" },
      ],
    },
    {
      text: "Getting Started",
      landing: "docs/quickstart.md",
      items: [
        { text: "Introduction", file: "docs/README.md" },
        { text: "Quickstart", file: "docs/quickstart.md" },
        { text: "Quickstart with curl", file: "README.md" },
        { text: "Your first real provider", file: "docs/first-provider.md" },
        { text: "Configuration", file: "docs/configuration.md" },
      ],
    },
    {
      text: "Guides",
      landing: "docs/providers.md",
      items: [
        { text: "Managing providers", file: "docs/providers.md" },
        { text: "Agents: identity and access", file: "docs/agents.md" },
        { text: "TypeScript agents", file: "docs/agents-typescript.md" },
        { text: "Python agents", file: "docs/agents-python.md" },
        { text: "Agents over HTTP", file: "docs/agents-http.md" },
        { text: "Sessions and delegation", file: "docs/sessions.md" },
        { text: "MCP tool servers", file: "docs/mcp.md" },
        { text: "Operating with the nexus command", file: "docs/cli.md" },
        { text: "Deploying Nexus", file: "docs/deploy.md" },
        { text: "Releasing Nexus", file: "docs/releasing.md" },
        { text: "Troubleshooting", file: "docs/troubleshooting.md" },
      ],
    },
    {
      text: "Reference",
      landing: "docs/api.md",
      items: [
        { text: "API reference", file: "docs/api.md" },
        { text: "CLI reference", file: "docs/cli.md#command-reference" },
        ...providerTemplates(root),
        { text: "Benchmarks", file: "BENCHMARKS.md" },
        { text: "Changelog", file: "CHANGELOG.md" },
      ],
    },
  ];
}

/** The link of a navigation entry: its page's URL, plus the #anchor it names. */
export function navLink(file: string): string {
  const [page, anchor] = file.split("#") as [string, string | undefined];
  return `${siteLink(sitePath(page))}${anchor === undefined ? "" : `#${anchor}`}`;
}

/** Every page file the navigation reaches (anchors dropped). */
export function navigatedFiles(root = repoRoot): Set<string> {
  const files = new Set<string>();
  for (const zone of zones(root)) {
    for (const item of zone.items) {
      if ("pages" in item) [item.index, ...item.pages].forEach((p) => files.add(p.file));
      else files.add(item.file.split("#")[0]!);
    }
  }
  return files;
}
