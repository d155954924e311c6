/**
 * The writing rules of the documentation, checked on every page the site
 * builds (docs/, README.md, CHANGELOG.md, BENCHMARKS.md; generated pages
 * too, so their generators keep the rules). Each rule is small on purpose:
 * it catches what a reviewer would flag, and says why next to the check.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { htmlElements } from "../../site/html-elements.ts";
import { sitePageFiles } from "../../site/site-pages.ts";

const root = new URL("../../", import.meta.url).pathname;

/** One finding: the page, the 1-based line, and what is wrong. */
interface Finding {
  readonly line: number;
  readonly problem: string;
}

/** A line of a page, and whether it lies inside a fenced code block (the fences included). */
interface Line {
  readonly text: string;
  readonly number: number;
  readonly code: boolean;
}

function lines(markdown: string): Line[] {
  let fence: string | undefined;
  return markdown.split("\n").map((text, i) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence === undefined && marker !== undefined) {
      fence = marker;
      return { text, number: i + 1, code: true };
    }
    if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length && text.trim() === marker) fence = undefined;
      return { text, number: i + 1, code: true };
    }
    return { text, number: i + 1, code: false };
  });
}

/** Inline code spans become a placeholder, so their content never counts as prose. */
const withoutInlineCode = (text: string) => text.replace(/(`+)[^`]*?\1/g, "CODE");

/**
 * The page with every inline code span's content blanked out (to `x`, line
 * breaks kept), also spans that run over a line break, so line-based rules
 * see prose only. Fenced blocks stay as they are.
 */
function maskInlineCode(page: Line[]): Line[] {
  const out = [...page];
  for (let i = 0; i < page.length;) {
    if (page[i]!.code) {
      i++;
      continue;
    }
    let j = i;
    while (j < page.length && !page[j]!.code && page[j]!.text.trim() !== "") j++;
    const masked = page.slice(i, Math.max(j, i + 1)).map((l) => l.text).join("\n")
      .replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_m, ticks: string, body: string) => `${ticks}${body.replace(/[^\n]/g, "x")}${ticks}`)
      .split("\n");
    masked.forEach((text, k) => (out[i + k] = { ...page[i + k]!, text }));
    i = Math.max(j, i + 1);
  }
  return out;
}

/** Sentences in a stretch of prose: a stop followed by a capital (or a code span, a link, a parenthesis), or the end. */
function sentences(text: string): number {
  const plain = withoutInlineCode(text).replace(/\b(?:e\.g|i\.e|etc|vs)\./g, "x");
  return plain.split(/[.!?]["')]?(?:\s+(?=[A-Z[(`])|\s*$)/).filter((s) => s.trim() !== "").length;
}

/** Bullet items with their continuation lines joined, outside code. */
function bulletItems(page: Line[]): { line: number; text: string }[] {
  const items: { line: number; text: string }[] = [];
  let current: { line: number; text: string } | undefined;
  for (const l of page) {
    const bullet = l.code ? null : /^\s*[-*+]\s+(.*)$/.exec(l.text);
    if (bullet) {
      if (current) items.push(current);
      current = { line: l.number, text: bullet[1]! };
    } else if (current && !l.code && /^\s+\S/.test(l.text) && !/^\s*[|>]/.test(l.text)) {
      current.text += ` ${l.text.trim()}`;
    } else if (current) {
      items.push(current);
      current = undefined;
    }
  }
  if (current) items.push(current);
  return items;
}

/** Every rule, applied to one page. */
export function styleFindings(markdown: string): Finding[] {
  const raw = lines(markdown);
  const page = maskInlineCode(raw);
  const found: Finding[] = [];

  // No em dashes, in prose or code: the seeds' first writing rule. A colon, a comma, parentheses or a new
  // sentence says the same thing; an empty table cell says "none" in words.
  for (const l of raw) if (l.text.includes("\u2014")) found.push({ line: l.number, problem: "em dash" });

  // No bold for emphasis. Bold may label what follows (at the start of a paragraph, a list item or a table
  // cell, as in "**An API key** (nxa_...)"), and names a control on screen ("press **Start connection**");
  // a bold phrase of four words or more in the middle of a sentence is emphasis, which the words themselves
  // should carry. (Shorter bold mid-sentence is left alone: a control's name cannot be told from emphasis.)
  for (const l of page) {
    if (l.code) continue;
    const text = withoutInlineCode(l.text);
    for (const m of text.matchAll(/\*\*([^*]+)\*\*/g)) {
      const before = text.slice(0, m.index);
      const label = /(?:^\s*(?:[-*+]\s+|\d+\.\s+|>\s*)?|\|\s*)$/.test(before);
      const menuPath = /[→>]/.test(m[1]!); // "**Settings → Developer settings**" names controls
      if (!label && !menuPath && m[1]!.trim().split(/\s+/).length >= 4) found.push({ line: l.number, problem: `bold used for emphasis: "${m[1]}"` });
    }
  }

  // No bullet lists for explanatory prose. A list names things, each with a short note; an item that runs
  // to three sentences or more is a paragraph and reads better as one.
  for (const item of bulletItems(page)) {
    const n = sentences(item.text);
    if (n > 2) found.push({ line: item.line, problem: `a bullet item of ${n} sentences (explanatory prose belongs in a paragraph)` });
  }

  // Code only when it shows something real: every fenced block says what it is (sh, ts, python, json,
  // yaml, ...), and output, diagrams and other non-code say `text`. A block with no language is usually
  // pseudo-code or output passed off as a command.
  for (let i = 0; i < page.length; i++) {
    const l = page[i]!;
    const open = /^\s*(`{3,}|~{3,})(.*)$/.exec(l.text);
    if (!l.code || !open || (i > 0 && page[i - 1]!.code && !isClosing(page, i - 1))) continue;
    if (open[2]!.trim() === "") found.push({ line: l.number, problem: "a fenced code block without a language (use text for output and diagrams)" });
  }

  // No raw placeholders such as <key> in prose: GitHub drops an unknown tag and shows nothing, and the site
  // would read it as HTML. In backticks (`<key>`) it shows as written. Real HTML elements and comments stay.
  for (const l of page) {
    if (l.code) continue;
    for (const m of withoutInlineCode(l.text).matchAll(/<\/?([A-Za-z][\w-]*)(?=[\s/>])/g)) {
      if (!htmlElements.has(m[1]!.toLowerCase())) found.push({ line: l.number, problem: `a raw <${m[1]}> outside code (write it in backticks)` });
    }
  }

  // No numbered sub-headers: "### 2. Configure" ties a heading to a position that edits change. Numbered
  // steps at the page's top level (## 1. Start Nexus) stay, since there the order is the content.
  for (const l of page) {
    if (!l.code && /^#{3,6}\s+(?:step\s+)?\d+[.):]\s/i.test(l.text)) found.push({ line: l.number, problem: "a numbered sub-header" });
  }
  return found.sort((a, b) => a.line - b.line);
}

/** Whether line i closes a fence (so the next fence line opens a new block). */
function isClosing(page: Line[], i: number): boolean {
  let open = false;
  for (let j = 0; j <= i; j++) if (page[j]!.code && /^\s*(`{3,}|~{3,})/.test(page[j]!.text)) open = !open;
  return !open;
}

describe("the documentation's writing rules", () => {
  it("catch what they are meant to catch", () => {
    const bad = [
      "# Title",
      "Nexus \u2014 a broker.",
      "It is **really, truly, very much** fast.",
      "- One. Two. Three sentences here.",
      "```",
      "make run",
      "```",
      "### 2. Configure",
      "Send it as Authorization: Bearer <key>.",
    ].join("\n");
    assert.deepEqual(styleFindings(bad).map((f) => f.line), [2, 3, 4, 5, 8, 9]);
    const good = [
      "# Title",
      "**An API key** (`nxa_...`). Press **Start connection** now.",
      "- a short item. With a note.",
      "| **term** | meaning |",
      "```sh",
      "make run  # no \u002a\u002aemphasis\u002a\u002a rule inside code",
      "```",
      "```text",
      "output",
      "```",
      "## 1. Start Nexus",
      "Send `Authorization: Bearer <key>`, see <https://example.com> and <a id=\"x\"></a><!-- a comment -->.",
    ].join("\n");
    assert.deepEqual(styleFindings(good), []);
  });

  for (const file of sitePageFiles()) {
    it(`${file} follows them`, () => {
      const findings = styleFindings(readFileSync(join(root, file), "utf8")).map((f) => `${file}:${f.line}: ${f.problem}`);
      assert.deepEqual(findings, []);
    });
  }
});
