/**
 * Nexus web app: the newcomer's way to connect an account and see what an
 * agent would receive. It talks only to the Gateway that served it, over
 * gRPC-Web (see gateway-client.ts), and keeps nothing but the agent key and
 * the current connection id, in this tab's sessionStorage.
 *
 * Flow: list providers → RequestConnection → OAuth: the browser goes to the
 * provider's consent page and comes back to this page with
 * `status=success&connection_id=…`; static credentials: the form is rendered
 * here from the provider's JSON Schema and sent with CaptureCredential →
 * CheckConnection until the status settles → GetToken, secrets masked.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { ProviderInfo } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { type CaptureFields, renderCaptureFields } from "./capture-form.ts";
import { createConnectionPanel } from "./connection-panel.ts";
import { byId, h, moveFocus, replace } from "./dom.ts";
import { createGatewayClient, explainError, type Problem, problem } from "./gateway-client.ts";
import { renderProviderList, renderProviderOptions, usesConsent } from "./providers-view.ts";
import { createSessionMemory, loadServerConfig } from "./session-memory.ts";
import { inputLimits } from "../shared/input-rules.ts";

const el = {
  status: byId("status", HTMLElement),
  error: byId("error", HTMLDivElement),
  agentKeyForm: byId("agent-key-form", HTMLFormElement),
  agentKey: byId("agent-key", HTMLInputElement),
  providers: byId("providers", HTMLUListElement),
  startForm: byId("start-form", HTMLFormElement),
  workspace: byId("workspace", HTMLInputElement),
  provider: byId("provider", HTMLSelectElement),
  capture: byId("capture", HTMLElement),
  captureTitle: byId("capture-title", HTMLHeadingElement),
  captureForm: byId("capture-form", HTMLFormElement),
  captureFields: byId("capture-fields", HTMLDivElement),
};

function sessionStorageOrUndefined(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined; // storage blocked by the browser's settings
  }
}

// The contract's limit, so the browser stops the user where the Gateway would.
el.workspace.maxLength = inputLimits.workspaceIdLength;

const memory = createSessionMemory(sessionStorageOrUndefined());
const client = createGatewayClient({ baseUrl: location.origin, agentKey: () => el.agentKey.value });
let providers: readonly ProviderInfo[] = [];
let capture: { readonly state: string; readonly fields: CaptureFields } | undefined;

const connection = createConnectionPanel({
  client,
  gatewayUrl: location.origin,
  elements: {
    section: byId("connection", HTMLElement),
    title: byId("connection-title", HTMLHeadingElement),
    id: byId("connection-id", HTMLElement),
    status: byId("connection-status", HTMLElement),
    checkAgain: byId("check-again", HTMLButtonElement),
    credential: byId("credential", HTMLDivElement),
  },
  announce,
  showProblem,
  remember: (id) => memory.setConnectionId(id),
});

/** Says what happened through the live region (screen readers read it; everyone sees it). */
function announce(message: string): void {
  el.status.textContent = message;
}

function clearProblem(): void {
  el.error.hidden = true;
  replace(el.error);
}

/**
 * Shows a failure with its reason code, a hint, and optionally a way to start
 * over. The alert goes under the heading of the section where it happened
 * (`near`), so it is seen where the user is looking, not off screen at the top.
 */
function showProblem(context: string, p: Problem, offerRestart: boolean, near?: HTMLElement): void {
  const restart = offerRestart ? h("button", { type: "button", class: "secondary" }, "Start again") : undefined;
  restart?.addEventListener("click", startAgain);
  replace(el.error,
    h("p", {}, h("strong", {}, `${context}: `), p.message),
    h("p", {}, "Reason: ", h("code", { class: "reason" }, p.reason)),
    p.hint === undefined ? undefined : h("p", {}, p.hint),
    restart);
  (near?.querySelector("h2") ?? el.status).after(el.error);
  el.error.hidden = false;
  el.error.scrollIntoView({ block: "nearest" });
  announce(`${context} (${p.reason}).`);
}

/** Back to the start form, filled with the last choices. */
function startAgain(): void {
  clearProblem();
  connection.stop();
  capture = undefined;
  el.capture.hidden = true;
  const last = memory.lastStart();
  if (last !== undefined) {
    el.workspace.value = last.workspace;
    el.provider.value = last.provider;
  }
  el.workspace.focus();
  announce("Start a connection again.");
}

function setBusy(form: HTMLFormElement, busy: boolean): void {
  form.setAttribute("aria-busy", String(busy));
  for (const button of form.querySelectorAll("button")) button.disabled = busy;
}

async function loadProviders(): Promise<void> {
  try {
    // By name, so the list reads the same on every load whatever order the Broker keeps.
    providers = (await client.listProviders({})).providers.sort((a, b) => a.name.localeCompare(b.name));
    renderProviderList(el.providers, providers);
    renderProviderOptions(el.provider, providers, memory.lastStart()?.provider);
    announce(`${providers.length} provider${providers.length === 1 ? "" : "s"} available.`);
  } catch (error) {
    replace(el.providers, h("li", {}, "The providers could not be loaded."));
    showProblem("Could not list the providers", explainError(error), false, el.providers.closest("section") ?? undefined);
  } finally {
    el.providers.setAttribute("aria-busy", "false");
  }
}

/** The URL the provider sends the browser back to: this page, without any query. */
function returnUrl(): string {
  return `${location.origin}${location.pathname}`;
}

async function startConnection(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  clearProblem();
  connection.stop();
  const workspace = el.workspace.value.trim();
  const providerName = el.provider.value;
  const provider = providers.find((p) => p.name === providerName);
  memory.setLastStart({ workspace, provider: providerName });
  setBusy(el.startForm, true);
  try {
    announce(`Starting a connection to ${providerName}…`);
    const started = await client.requestConnection({ userId: workspace, providerName, returnUrl: returnUrl() });
    memory.setConnectionId(started.connectionId);
    // Without the list we cannot tell the auth type; auth_url works for both kinds (the Broker's own form for static ones).
    if (provider === undefined || usesConsent(provider)) {
      // Only a web page may be opened: a javascript: or data: URL here would run in this origin.
      if (!/^https?:\/\//i.test(started.authUrl)) throw new Error("internal: the consent URL is not http(s)");
      announce(`Opening the consent page of ${providerName}…`);
      location.assign(started.authUrl);
      return;
    }
    const schema = await client.getCaptureSchema({ state: started.state });
    showCapture(started.state, schema.providerName || providerName, schema.schema ?? {});
  } catch (error) {
    showProblem("Could not start the connection", explainError(error), true, el.startForm.closest("section") ?? undefined);
  } finally {
    setBusy(el.startForm, false);
  }
}

function showCapture(state: string, providerName: string, schema: JsonObject): void {
  connection.hide();
  const fields = renderCaptureFields(schema);
  capture = { state, fields };
  replace(el.captureFields, fields.fragment);
  el.captureTitle.textContent = `Enter your ${providerName} credential`;
  el.capture.hidden = false;
  moveFocus(fields.first ?? el.captureTitle);
  announce(`Enter the credential for ${providerName}. It goes to Nexus only, never to the agent.`);
}

async function submitCapture(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  if (capture === undefined) return;
  clearProblem();
  setBusy(el.captureForm, true);
  try {
    announce("Checking the credential with the provider…");
    const captured = await client.captureCredential({ state: capture.state, credentials: capture.fields.values() });
    capture = undefined;
    el.capture.hidden = true;
    replace(el.captureFields);
    void connection.follow(captured.connectionId, { focus: true });
  } catch (error) {
    // The form stays, with what was typed: most failures are a mistyped key, and the Broker names the field.
    const p = explainError(error);
    showProblem("The credential was not accepted", p, true, el.capture);
    capture?.fields.markInvalid(p.field?.startsWith("credentials.") === true ? p.field.slice("credentials.".length) : undefined);
  } finally {
    setBusy(el.captureForm, false);
  }
}

/** Handles the provider's redirect back here, then cleans the URL so a reload does not replay it. */
function handleReturn(): void {
  const params = new URLSearchParams(location.search);
  const status = params.get("status");
  const id = params.get("connection_id") ?? "";
  if (status === null) {
    const current = memory.connectionId();
    if (current !== undefined) connection.show(current, "not checked yet");
    return;
  }
  history.replaceState(null, "", `${location.pathname}${location.hash}`);
  if (status === "success" && id !== "") {
    void connection.follow(id, { focus: true });
    return;
  }
  if (id !== "") {
    memory.setConnectionId(id);
    connection.show(id, "not completed");
  }
  const reason = params.get("error") || "unknown_error";
  showProblem("The connection was not completed", problem(reason, "The provider or the Broker reported an error on the way back."), true);
  moveFocus(el.error);
}

el.agentKeyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  announce("Agent key kept for this browser tab.");
});
el.agentKey.addEventListener("input", () => memory.setAgentKey(el.agentKey.value.trim()));
el.startForm.addEventListener("submit", (event) => void startConnection(event));
el.captureForm.addEventListener("submit", (event) => void submitCapture(event));

/** Fills the page: remembered choices, the providers, the agent key, then whatever the return URL says. */
async function start(): Promise<void> {
  const last = memory.lastStart();
  if (last !== undefined) el.workspace.value = last.workspace;
  announce("Loading providers…");
  const providersLoaded = loadProviders();
  const config = await loadServerConfig(document.baseURI);
  el.agentKey.value = memory.agentKey() ?? config.agentKey ?? "";
  await providersLoaded;
  handleReturn();
}

void start();
