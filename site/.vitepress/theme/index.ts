/** The default theme, with the version chip in the title bar and "Copy as Markdown" above every page. */
import type { Theme } from "vitepress";
import DefaultTheme from "vitepress/theme";
import { h } from "vue";
import { CopyMarkdown } from "./copy-markdown.ts";
import { VersionChip } from "./version-chip.ts";
import "./custom.css";

export default {
  extends: DefaultTheme,
  Layout: () => h(DefaultTheme.Layout, null, {
    "nav-bar-title-after": () => h(VersionChip),
    "doc-before": () => h(CopyMarkdown),
  }),
} satisfies Theme;
