/**
 * Server-rendered pages for the browser end of handshakes (BASE_URL/auth/…):
 * the form where a user enters a static credential, and plain message pages
 * for errors and redirect fallbacks. No JavaScript and no external resources,
 * so the strict policy in {@linkcode pageSecurityHeaders} holds (S-16).
 */
import type { Json, JsonObject } from "../domain/provider.ts";

/**
 * Headers every page here is served with. The CSP allows only the inline
 * `<style>` element and form posts to our own origin; nothing may frame the
 * page (clickjacking a credential form), and neither it nor its state may be
 * cached or leaked through Referer.
 */
export const pageSecurityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
};

const entities: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => entities[c] ?? c);
}

const styles = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#f5f5f7}
main{max-width:28rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin:0 0 .75rem}
label{display:block;font-weight:600;margin-top:1rem}
input,select{display:block;width:100%;margin-top:.25rem;padding:.6rem;font:inherit;border:1px solid #767676;border-radius:4px}
input:focus,select:focus,button:focus{outline:3px solid #1a5fb4;outline-offset:1px}
.help{margin:.25rem 0 0;font-size:.9rem;color:#4a4a4a}
.alert{margin:1rem 0;padding:.75rem;border:1px solid #a51d2d;border-radius:4px;background:#fbe9eb;color:#7a1522}
button{margin-top:1.5rem;width:100%;padding:.75rem;font:inherit;font-weight:600;color:#fff;background:#1a5fb4;border:0;border-radius:4px;cursor:pointer}
code{font-family:ui-monospace,monospace;background:#eee;padding:0 .25rem;border-radius:3px}
@media (prefers-color-scheme:dark){body{background:#1e1e1e;color:#eee}main{background:#2a2a2a}.help{color:#c0c0c0}code{background:#3a3a3a}input,select{background:#1e1e1e;color:#eee}}
`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${styles}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: Json | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function attr(name: string, value: string | number | undefined): string {
  return value === undefined ? "" : ` ${name}="${escapeHtml(String(value))}"`;
}

/** One labelled control for a schema property. */
function renderField(name: string, prop: JsonObject, required: boolean): string {
  const id = `field-${name}`;
  const helpId = `${id}-help`;
  const description = text(prop.description);
  const label = `<label for="${escapeHtml(id)}">${escapeHtml(text(prop.title) ?? name)}</label>`;
  const help = description === undefined ? "" : `\n<p class="help" id="${escapeHtml(helpId)}">${escapeHtml(description)}</p>`;
  const common = `${attr("id", id)}${attr("name", `credentials.${name}`)}${required ? " required" : ""}${attr("aria-describedby", description === undefined ? undefined : helpId)}`;
  const fallback = text(prop.default);

  if (Array.isArray(prop.enum)) {
    const choices = prop.enum.filter((v): v is string => typeof v === "string");
    const selected = fallback !== undefined && choices.includes(fallback) ? fallback : undefined;
    // An empty first option: for a required field the browser makes the user choose; for an optional one it means "not set".
    const options = [`<option value=""${selected === undefined ? " selected" : ""}>Choose…</option>`]
      .concat(choices.map((v) => `<option${attr("value", v)}${v === selected ? " selected" : ""}>${escapeHtml(v)}</option>`));
    return `${label}\n<select${common}>\n${options.join("\n")}\n</select>${help}`;
  }

  const secret = text(prop.format) === "password";
  const pattern = text(prop.pattern);
  const input =
    `<input${attr("type", secret ? "password" : "text")}${common}` +
    // Keys are not words: no autocorrect, and secrets never go to autofill.
    `${secret ? ' autocomplete="off"' : ""} autocapitalize="none" spellcheck="false"` +
    attr("minlength", typeof prop.minLength === "number" ? prop.minLength : undefined) +
    attr("maxlength", typeof prop.maxLength === "number" ? prop.maxLength : undefined) +
    // HTML anchors pattern to the whole value; JSON Schema does not, so wrap it to keep the same meaning.
    attr("pattern", pattern === undefined ? undefined : `.*(?:${pattern}).*`) +
    attr("value", secret ? undefined : fallback) +
    ">";
  return `${label}\n${input}${help}`;
}

/** What {@linkcode renderCapturePage} shows. */
export interface CapturePageInput {
  readonly providerName: string;
  readonly providerDescription?: string;
  /** The provider's credential schema, already checked at registration. */
  readonly schema: JsonObject;
  /** The handshake state; posted back as the only proof of the handshake. */
  readonly state: string;
  /** Where the form posts, e.g. "/auth/capture". */
  readonly action: string;
  /** A problem with the previous submission, shown in an alert. */
  readonly error?: string;
}

/**
 * The page where a user enters a static credential: one labelled control per
 * schema property, in schema order, named `credentials.<field>`, plus the
 * hidden `state`. Every interpolated value is escaped.
 */
export function renderCapturePage(input: CapturePageInput): string {
  const properties = isObject(input.schema.properties) ? input.schema.properties : {};
  const required = new Set(Array.isArray(input.schema.required) ? input.schema.required : []);
  const fields = Object.entries(properties)
    .filter((entry): entry is [string, JsonObject] => isObject(entry[1]))
    .map(([name, prop]) => renderField(name, prop, required.has(name)));
  const title = `Connect ${input.providerName}`;
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    input.providerDescription ? `<p>${escapeHtml(input.providerDescription)}</p>` : "",
    !input.error ? "" : `<div class="alert" role="alert">${escapeHtml(input.error)}</div>`,
    `<form method="post"${attr("action", input.action)}>`,
    `<input type="hidden" name="state"${attr("value", input.state)}>`,
    ...fields,
    `<button type="submit">Connect</button>`,
    `</form>`,
  ];
  return page(title, body.filter((line) => line !== "").join("\n"));
}

/** What {@linkcode renderMessagePage} shows. */
export interface MessagePageInput {
  readonly title: string;
  readonly message: string;
  /** A machine-readable reason, e.g. "state_expired", shown as code. */
  readonly reason?: string;
  /** Where to go next; dropped unless it is http(s) or a same-origin path. */
  readonly link?: { readonly href: string; readonly text: string };
}

/** Only links that cannot run script or smuggle a scheme-relative host. */
function safeHref(href: string): boolean {
  if (href.startsWith("/")) return !href.startsWith("//") && !href.includes("\\");
  try {
    const { protocol } = new URL(href);
    return protocol === "https:" || protocol === "http:";
  } catch {
    return false;
  }
}

/**
 * A plain page: for errors ("This link has expired", with its reason code)
 * and as the body of redirects, for browsers that do not follow them.
 */
export function renderMessagePage(input: MessagePageInput): string {
  const body = [
    `<h1>${escapeHtml(input.title)}</h1>`,
    `<p>${escapeHtml(input.message)}</p>`,
    input.reason === undefined ? "" : `<p>Reason: <code>${escapeHtml(input.reason)}</code></p>`,
    input.link === undefined || !safeHref(input.link.href) ? "" : `<p><a${attr("href", input.link.href)}>${escapeHtml(input.link.text)}</a></p>`,
  ];
  return page(input.title, body.filter((line) => line !== "").join("\n"));
}
