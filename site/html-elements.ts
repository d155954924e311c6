/**
 * The HTML elements a documentation page may use as HTML (anchors, <kbd>,
 * <details>, tables...). Anything else written like a tag, such as <key>, is
 * a placeholder: the writing rules ask for it in backticks, and the site
 * shows it as text (site/.vitepress/config.ts).
 */
export const htmlElements: ReadonlySet<string> = new Set([
  "a", "abbr", "b", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "hr", "i", "img", "ins", "kbd", "li", "mark",
  "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead",
  "tr", "u", "ul", "var",
]);
