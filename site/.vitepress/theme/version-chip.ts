/** The version chip beside the site title: VERSION at the root, read when the site is built. */
import { useData } from "vitepress";
import { defineComponent, h } from "vue";

export const VersionChip = defineComponent({
  name: "VersionChip",
  setup() {
    const { theme } = useData<{ version: string }>();
    return () => h("span", { class: "nx-version", title: "The version this documentation describes" }, `v${theme.value.version}`);
  },
});
