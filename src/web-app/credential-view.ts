/**
 * Shows a credential payload (GetToken) without putting its secrets on
 * screen: each secret value shows its first characters and a bullet, and a
 * per-value button reveals it. The full value lives only in this closure
 * until revealed, so it is neither in the page text nor in an attribute that
 * a screenshot, a screen share or a copy of the page would carry.
 */
import type { Credential } from "../../gen/nexus/common/v1/credential_pb.ts";
import { h } from "./dom.ts";

/** Fields that describe a credential rather than being one. */
const notSecret = new Set(["token_type", "scope", "expires_in"]);

/** How many leading characters a masked value shows. */
const shown = 4;

/**
 * The masked form of a secret: its first 4 characters, then bullets. A short
 * value shows none of itself, since 4 of 8 characters would be half the secret.
 */
export function mask(value: string): string {
  return value.length >= 3 * shown ? `${value.slice(0, shown)}•••` : "•••";
}

/** When the credential expires, absolute and relative ("in 2 minutes"). */
function expiry(expiresAt: number | undefined, now: number): HTMLElement {
  if (expiresAt === undefined) return h("span", {}, "does not expire");
  const at = new Date(expiresAt * 1000);
  const minutes = Math.round((expiresAt * 1000 - now) / 60_000);
  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(minutes, "minute");
  return h("time", { datetime: at.toISOString() }, `${at.toLocaleString()} (${relative})`);
}

/** Options of {@linkcode renderCredential}. */
export interface CredentialViewOptions {
  /** Tells assistive technology what changed, through the live region. */
  readonly announce: (message: string) => void;
  readonly now?: number;
}

/** Renders the credential: strategy, expiry, then every value, secrets masked. */
export function renderCredential(credential: Credential, options: CredentialViewOptions): HTMLElement {
  const strategy = credential.strategy;
  const config = Object.entries(strategy?.config ?? {});
  const values = h("dl", { class: "facts secrets" });
  let index = 0;
  for (const [name, value] of Object.entries(credential.credentials)) {
    const id = `secret-${index++}`;
    if (notSecret.has(name)) {
      values.append(h("dt", {}, name), h("dd", {}, h("code", { id }, value)));
      continue;
    }
    const output = h("code", { id, class: "secret" }, mask(value));
    const button = h("button", { type: "button", class: "small", "aria-controls": id, "aria-label": `Reveal ${name}` }, "Reveal");
    let revealed = false;
    button.addEventListener("click", () => {
      output.textContent = revealed ? mask(value) : value;
      button.textContent = revealed ? "Reveal" : "Hide";
      button.setAttribute("aria-label", `${revealed ? "Reveal" : "Hide"} ${name}`);
      options.announce(revealed ? `${name} hidden` : `${name} revealed`);
      revealed = !revealed;
    });
    values.append(h("dt", {}, name), h("dd", {}, output, " ", button));
  }
  return h("div", { class: "credential" },
    h("h3", {}, "Credential"),
    h("p", { class: "help" }, "What an agent receives from GetToken. Secret values are masked; reveal one only when nobody is watching your screen."),
    h("dl", { class: "facts" },
      h("dt", {}, "Strategy"),
      h("dd", {}, h("code", {}, strategy?.type ?? "unknown"),
        config.length === 0 ? undefined : h("ul", { class: "config" }, ...config.map(([k, v]) => h("li", {}, h("code", {}, k), ": ", h("code", {}, v))))),
      h("dt", {}, "Expires"),
      h("dd", {}, expiry(credential.expiresAt, options.now ?? Date.now()))),
    h("h4", {}, "Values"),
    values);
}
