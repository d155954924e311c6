/**
 * Reading a built documentation site, for tests: its pages, and a check of
 * every link and anchor in the HTML.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Every .html file under `dir`, relative to it. */
export function htmlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".html") && statSync(join(dir, f)).isFile()).sort();
}

const decodeEntities = (s: string) => s.replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">");

/** The `id`s of a page's elements, the targets of its #anchors. */
export function pageIds(html: string): Set<string> {
  return new Set([...html.matchAll(/\sid="([^"]*)"/g)].map((m) => decodeEntities(m[1]!)));
}

/** The `href`s of a page's `<a>` and `<link>` elements. */
export function pageHrefs(html: string): string[] {
  return [...html.matchAll(/<(?:a|link)\b[^>]*?\shref="([^"]*)"/g)].map((m) => decodeEntities(m[1]!));
}

/**
 * Links of the built site that lead nowhere: a same-site `href` whose file
 * does not exist, or whose #anchor names no element of its page. External
 * links (other hosts, mailto:) are not followed.
 */
export function brokenLinks(dir: string): string[] {
  const ids = new Map<string, Set<string>>();
  const idsOf = (file: string) => {
    if (!ids.has(file)) ids.set(file, pageIds(readFileSync(join(dir, file), "utf8")));
    return ids.get(file)!;
  };
  const broken: string[] = [];
  for (const page of htmlFiles(dir)) {
    for (const href of pageHrefs(readFileSync(join(dir, page), "utf8"))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//")) continue;
      const url = new URL(href, `http://site.invalid/${page}`);
      let target = decodeURIComponent(url.pathname).replace(/^\//, "");
      if (target === "" || target.endsWith("/")) target += "index.html";
      if (!existsSync(join(dir, target)) || !statSync(join(dir, target)).isFile()) {
        broken.push(`${page}: ${href} (no file ${target})`);
        continue;
      }
      const anchor = decodeURIComponent(url.hash.slice(1));
      if (anchor !== "" && target.endsWith(".html") && !idsOf(target).has(anchor)) broken.push(`${page}: ${href} (no #${anchor} in ${target})`);
    }
  }
  return broken;
}

/** A built page's path relative to the site, as VitePress names it for a site path ("index.md" is "index.html"). */
export function builtFile(sitePath: string): string {
  return sitePath.replace(/\.md$/, ".html");
}
