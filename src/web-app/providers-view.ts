/**
 * The provider list (ListProviders) and the provider picker of the start
 * form. Both show only public metadata: the Gateway never returns a secret
 * of a provider.
 */
import type { ProviderInfo, ProviderTemplateInfo } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { h, replace } from "./dom.ts";

/** Readable names of auth types; unknown types show as sent. */
const authTypeNames: Readonly<Record<string, string>> = {
  oauth2: "OAuth 2.0 (consent on the provider's page)",
  api_key: "API key (entered here)",
  basic_auth: "Username and password (entered here)",
  header: "Header credential (entered here)",
  query_param: "Query parameter credential (entered here)",
  hmac_payload: "HMAC secret (entered here)",
  aws_sigv4: "AWS access key (entered here)",
};

/** Whether the provider's connections start with a consent redirect, rather than a form here. */
export function usesConsent(provider: ProviderInfo): boolean {
  return provider.authType === "oauth2";
}

/** Fills the list: one item per provider with its name, auth type, category, description and, when it came from a template, its setup notes. */
export function renderProviderList(list: HTMLElement, providers: readonly ProviderInfo[]): void {
  if (providers.length === 0) {
    replace(list, h("li", {}, "No providers are registered yet. An operator adds them on the Broker (POST /providers)."));
    return;
  }
  replace(list, ...providers.map((p) =>
    h("li", { class: "provider" },
      h("h3", {}, p.name),
      h("p", { class: "tags" },
        h("span", { class: "tag" }, h("span", { class: "visually-hidden" }, "Auth type: "), h("code", {}, p.authType)),
        p.category === "" ? undefined : h("span", { class: "tag" }, h("span", { class: "visually-hidden" }, "Category: "), p.category),
        p.template === undefined ? undefined : h("span", { class: "tag" }, "template ", h("code", {}, p.template.name))),
      h("p", { class: "help" }, authTypeNames[p.authType] ?? p.authType),
      p.description === "" ? undefined : h("p", {}, p.description),
      p.template === undefined ? undefined : setupNotes(p.template))));
}

/**
 * A template's setup notes, folded: they are for the operator who registers
 * the provider (where to create the app, the redirect URI to give it, what
 * refresh needs), shown here so one page says how each provider is set up.
 */
function setupNotes(t: ProviderTemplateInfo): HTMLElement {
  return h("details", { class: "setup" },
    h("summary", {}, `Setup notes: ${t.displayName}`),
    h("p", {}, link(t.docsUrl, "Provider documentation"), " · ", link(t.consoleUrl, "Where to create the app or key")),
    t.redirectUri === "" ? undefined : h("p", {}, "Redirect URI to give the provider: ", h("code", {}, t.redirectUri)),
    h("ol", {}, ...t.setupSteps.map((step) => h("li", {}, step))),
    t.refresh === "" ? undefined : h("p", { class: "help" }, `Refresh: ${t.refresh}`));
}

/** A link that opens outside the app; only https URLs become links. */
function link(url: string, text: string): HTMLElement {
  return url.startsWith("https://") ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, text) : h("span", {}, text);
}

/** Fills the picker, keeping `preferred` selected when it is still offered. */
export function renderProviderOptions(select: HTMLSelectElement, providers: readonly ProviderInfo[], preferred: string | undefined): void {
  replace(select,
    h("option", { value: "", selected: preferred === undefined }, "Choose a provider…"),
    ...providers.map((p) => h("option", { value: p.name, selected: p.name === preferred }, `${p.name} (${p.authType})`)));
}
