// The source views VitePress builds: one per repository file or folder a page links to (site/source-views.ts).
// `path` places the page (source/PATH.md), `file` names what it shows.
import { linkedSourceFiles, sourceViewPath } from "../../site-pages.ts";
import { sourceView } from "../../source-views.ts";

export default {
  paths() {
    const views = linkedSourceFiles();
    return views.map((file) => ({
      params: { path: sourceViewPath(file).slice("source/".length, -".md".length), file },
      content: sourceView(file, new Set(views)),
    }));
  },
};
