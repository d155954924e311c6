/**
 * "Copy as Markdown" on every page: the page's source Markdown, embedded at
 * build time (config.ts, transformPageData), for readers who paste the
 * documentation into an assistant.
 */
import { useData } from "vitepress";
import { defineComponent, h, onBeforeUnmount, ref } from "vue";
import { copyText } from "./copy-text.ts";

const labels = { idle: "Copy as Markdown", copied: "Copied", failed: "Copy failed: select the text instead" } as const;

/** The button, shown above each page's content. */
export const CopyMarkdown = defineComponent({
  name: "CopyMarkdown",
  setup() {
    const { page } = useData();
    const state = ref<keyof typeof labels>("idle");
    let timer: ReturnType<typeof setTimeout> | undefined;
    onBeforeUnmount(() => clearTimeout(timer));
    async function copy(): Promise<void> {
      const markdown = (page.value as { markdown?: string }).markdown ?? "";
      state.value = (await copyText(markdown)) ? "copied" : "failed";
      clearTimeout(timer);
      timer = setTimeout(() => (state.value = "idle"), 2500);
    }
    return () => h("div", { class: "nx-page-tools" }, [
      h("button", { type: "button", class: "nx-copy-markdown", "data-state": state.value, onClick: copy }, labels[state.value]),
      h("span", { class: "nx-visually-hidden", role: "status" }, state.value === "idle" ? "" : labels[state.value]),
    ]);
  },
});
