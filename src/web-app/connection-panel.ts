/**
 * The "Connection" section: the current connection id, its live status and,
 * once active, its credential and the calls an agent makes for it. "Check
 * again" follows the same id anew.
 */
import { renderAgentSnippets } from "./agent-snippets.ts";
import { watchConnection } from "./connection-watch.ts";
import { renderCredential } from "./credential-view.ts";
import { h, moveFocus, replace } from "./dom.ts";
import { explainError, type GatewayClient, type Problem, problem } from "./gateway-client.ts";

/** The elements of the section, from index.html. */
export interface ConnectionElements {
  readonly section: HTMLElement;
  readonly title: HTMLElement;
  readonly id: HTMLElement;
  readonly status: HTMLElement;
  readonly checkAgain: HTMLButtonElement;
  readonly credential: HTMLElement;
}

/** What the panel needs from the page. */
export interface ConnectionPanelDeps {
  readonly client: GatewayClient;
  /** Where agents reach the Gateway (this page's origin), for the snippets. */
  readonly gatewayUrl: string;
  readonly elements: ConnectionElements;
  readonly announce: (message: string) => void;
  readonly showProblem: (context: string, problem: Problem, offerRestart: boolean, near: HTMLElement) => void;
  /** Remembers the current id, so it is still shown after a reload. */
  readonly remember: (id: string) => void;
}

/** The section's behaviour. */
export interface ConnectionPanel {
  /** Shows `id` with a status text, without calling anything. */
  show(id: string, status: string): void;
  /** Shows `id` and follows its status live until it settles, then its credential. */
  follow(id: string, options: { focus: boolean }): Promise<void>;
  /** Stops following, for example when another connection starts. */
  stop(): void;
  hide(): void;
}

const unusable = new Set(["failed", "attention_required", "revoked"]);

/** Creates the panel and wires its "Check again" button. */
export function createConnectionPanel(deps: ConnectionPanelDeps): ConnectionPanel {
  const el = deps.elements;
  let watch: AbortController | undefined;

  function setStatus(status: string, text: string): void {
    el.status.textContent = text;
    el.status.dataset.status = status;
  }

  const panel: ConnectionPanel = {
    show(id, status) {
      el.section.hidden = false;
      el.id.textContent = id;
      setStatus(status, status);
    },
    async follow(id, options) {
      panel.stop();
      const controller = new AbortController();
      watch = controller;
      deps.remember(id);
      panel.show(id, "checking…");
      replace(el.credential);
      if (options.focus) moveFocus(el.title);
      try {
        await watchConnection(deps.client, id, {
          status(status, reason) {
            setStatus(status, reason === "" ? status : `${status} (${reason})`);
            deps.announce(`Connection status: ${status}.`);
            if (unusable.has(status)) {
              deps.showProblem(`The connection is ${status.replace("_", " ")}`, problem(reason || status, "Agents cannot use it."), true, el.section);
            }
          },
          credential(credential) {
            replace(el.credential, credential === undefined
              ? h("p", {}, "The connection holds no credential.")
              : renderCredential(credential, { announce: deps.announce }),
            renderAgentSnippets(deps.gatewayUrl, id, { announce: deps.announce }));
            deps.announce("Connection active. Its credential is shown below with secrets masked, then the calls an agent makes for it.");
          },
        }, { signal: controller.signal });
      } catch (error) {
        if (controller.signal.aborted) return;
        // "checking…" would claim a check still runs; the alert says why it stopped.
        setStatus("unknown", "not checked");
        deps.showProblem("Could not check the connection", explainError(error), true, el.section);
      }
    },
    stop() {
      watch?.abort();
      watch = undefined;
    },
    hide() {
      panel.stop();
      el.section.hidden = true;
    },
  };

  el.checkAgain.addEventListener("click", () => {
    const id = el.id.textContent ?? "";
    if (id !== "") void panel.follow(id, { focus: false });
  });
  return panel;
}
