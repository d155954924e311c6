/**
 * The documentation site (VitePress), built from the repository as it is:
 * the pages are docs/** plus README.md, CHANGELOG.md and BENCHMARKS.md
 * (site/site-pages.ts), with no copies. `make docs-site` builds it into
 * .nexus/site; `make docs-serve` previews the build.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type DefaultTheme, defineConfigWithTheme, type MarkdownOptions, type PageData } from "vitepress";
import { navLink, type Zone, zones } from "../navigation.ts";
import { linkedSourceFiles, repoRoot, resolveLink, siteLink, sitePageFiles, sitePath, siteVersion, sourceViewPath } from "../site-pages.ts";
import { sourceView } from "../source-views.ts";
import { githubSlug } from "../slug.ts";
import { htmlElements } from "../html-elements.ts";

/** The theme's settings, plus the version the chip shows. */
export interface NexusThemeConfig extends DefaultTheme.Config {
  /** VERSION at the root, the single source of the release's version. */
  readonly version: string;
}

type MarkdownIt = Parameters<NonNullable<MarkdownOptions["config"]>>[0];

/** Everything at the root that holds no page: VitePress must not read it. */
function excluded(): string[] {
  const keep = new Set(["docs", "site", ...sitePageFiles().filter((f) => !f.includes("/"))]);
  return readdirSync(repoRoot)
    .filter((name) => !keep.has(name))
    .map((name) => (statSync(join(repoRoot, name)).isDirectory() ? `${name}/**` : name));
}

/**
 * The top bar marks a zone as current on any of its pages: VitePress tests
 * this expression against the page's path without extension ("/quickstart",
 * "/" for the home page).
 */
function activeMatch(zone: Zone): string {
  const files = zone.items.flatMap((item) => ("pages" in item ? [item.index.file, ...item.pages.map((p) => p.file)] : [item.file]));
  const paths = new Set(files.map((f) => navLink(f).split("#")[0]!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  return `^(${[...paths].join("|")})$`;
}

function sidebar(): DefaultTheme.SidebarItem[] {
  return zones().map((zone) => ({
    text: zone.text,
    items: zone.items.map((item) => ("pages" in item
      ? { text: item.text, link: navLink(item.index.file), collapsed: true, items: item.pages.map((p) => ({ text: p.text, link: navLink(p.file) })) }
      : { text: item.text, link: navLink(item.file) })),
  }));
}

/**
 * Relative links in the pages name files of the repository, as GitHub reads
 * them. On the site a page lives at its site path, and other files at their
 * source view, so each relative link becomes the absolute link of what it
 * names; VitePress then checks it like any other and fails the build when it
 * leads nowhere.
 */
function repositoryLinks(md: MarkdownIt): void {
  const pages = new Set(sitePageFiles());
  md.core.ruler.push("nexus_repository_links", (state) => {
    const realPath = (state.env as { realPath?: string }).realPath;
    if (realPath === undefined) return;
    const page = realPath.slice(repoRoot.length);
    for (const block of state.tokens) {
      for (const token of block.children ?? []) {
        const href = token.type === "link_open" ? token.attrGet("href") : null;
        if (href === null || href.startsWith("#") || href.startsWith("/") || /^[a-z][a-z0-9+.-]*:/i.test(href)) continue;
        const [target, anchor] = href.split("#") as [string, string | undefined];
        const path = resolveLink(page, target);
        if (path === undefined) continue;
        const site = pages.has(path) ? sitePath(path) : sourceViewPath(path);
        token.attrSet("href", `/${site}${anchor === undefined ? "" : `#${anchor}`}`);
      }
    }
  });
}

/**
 * A placeholder such as <key> written in prose is no HTML element: GitHub
 * drops it, and Vue, which compiles every page, would fail the build on an
 * element never closed. The site shows it as the text it is instead.
 * (test/unit/docs-style.test.ts asks for backticks, so GitHub shows it too.)
 */
function placeholdersAsText(md: MarkdownIt): void {
  const unknownTag = /^<\/?([A-Za-z][\w-]*)/;
  const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const isPlaceholder = (html: string) => {
    const tag = unknownTag.exec(html)?.[1];
    return tag !== undefined && !htmlElements.has(tag.toLowerCase());
  };
  md.core.ruler.push("nexus_placeholders_as_text", (state) => {
    for (const token of state.tokens) {
      if (token.type === "html_block" && isPlaceholder(token.content)) token.content = `<p>${escape(token.content)}</p>`;
      for (const child of token.children ?? []) if (child.type === "html_inline" && isPlaceholder(child.content)) child.content = escape(child.content);
    }
  });
}

/** The page's Markdown source, for "Copy as Markdown": the file itself, or a source view as generated. */
function markdownSource(pageData: PageData, views: ReadonlySet<string>): string {
  const viewed = pageData.params?.file as string | undefined;
  if (viewed !== undefined) return sourceView(viewed, views);
  return pageData.filePath === "" ? "" : readFileSync(join(repoRoot, pageData.filePath), "utf8"); // "" for a virtual page
}

const sourceViews = new Set(linkedSourceFiles());

export default defineConfigWithTheme<NexusThemeConfig>({
  title: "Nexus",
  description: "Nexus, the open-source credential broker for AI agents: documentation",
  lang: "en-US",
  srcDir: "..",
  srcExclude: excluded(),
  rewrites: (file) => sitePath(file),
  outDir: "../.nexus/site",
  cacheDir: "../.nexus/site-cache",
  // Links to the local services `make run` starts (http://localhost:8090/) are meant for the reader's machine.
  ignoreDeadLinks: "localhostLinks",
  buildConcurrency: 4,
  markdown: {
    // The pages are read on GitHub too, and link to headings by GitHub's anchors.
    anchor: { slugify: githubSlug },
    config(md) {
      repositoryLinks(md);
      placeholdersAsText(md);
    },
  },
  transformPageData: (pageData) => ({ markdown: markdownSource(pageData, sourceViews) }),
  themeConfig: {
    version: siteVersion(),
    nav: zones().map((zone) => ({ text: zone.text, link: navLink(zone.landing), activeMatch: activeMatch(zone) })),
    sidebar: sidebar(),
    search: { provider: "local" },
    outline: { level: [2, 3] },
    footer: { message: `Nexus ${siteVersion()}, Apache-2.0. Built from the repository's docs/.` },
    logoLink: siteLink("index.md"),
  },
});
