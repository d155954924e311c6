/**
 * The documentation a newcomer follows must not lead nowhere: every relative
 * link in README.md, BENCHMARKS.md, docs/ and docs/providers/ names a file that exists, and
 * every #anchor names a heading of that file.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { describe, it } from "node:test";

const root = new URL("../../", import.meta.url).pathname;
const pages = ["README.md", "BENCHMARKS.md", ...["docs", "docs/providers"].flatMap((dir) => readdirSync(join(root, dir)).filter((f) => f.endsWith(".md")).map((f) => `${dir}/${f}`))]
  .filter((p) => existsSync(join(root, p)));

/** GitHub's heading anchors (lower case, punctuation dropped, spaces to hyphens) and explicit `<a id>`s. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>([...markdown.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]!));
  for (const m of markdown.replace(/```[\s\S]*?```/g, "").matchAll(/^#{1,6}\s+(.+)$/gm)) {
    out.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-"));
  }
  return out;
}

describe("documentation links", () => {
  it("finds the pages", () => {
    assert.ok(pages.includes("docs/quickstart.md") && pages.includes("docs/README.md"), pages.join(", "));
  });

  for (const page of pages) {
    it(`${page}: every relative link resolves`, () => {
      const text = readFileSync(join(root, page), "utf8").replace(/```[\s\S]*?```/g, "");
      const broken: string[] = [];
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue; // http:, https:, mailto:
        const [file, anchor] = target.split("#") as [string, string | undefined];
        const path = file === "" ? page : normalize(join(dirname(page), file));
        if (!existsSync(join(root, path))) {
          broken.push(`${target} (no ${path})`);
          continue;
        }
        if (anchor !== undefined && path.endsWith(".md") && !anchors(readFileSync(join(root, path), "utf8")).has(anchor)) {
          broken.push(`${target} (no heading #${anchor} in ${path})`);
        }
      }
      assert.deepEqual(broken, []);
    });
  }
});
