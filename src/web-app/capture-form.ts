/**
 * The capture form of a static-credential provider, rendered from the JSON
 * Schema the Broker returns (GetCaptureSchema): one labelled control per
 * property, in schema order, with the schema's constraints as HTML
 * constraints so the browser explains a missing or malformed value before any
 * call is made. The Broker enforces the schema again on CaptureCredential.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { h } from "./dom.ts";

/** The rendered controls, and how to read what the user entered. */
export interface CaptureFields {
  /** Labels, controls and help texts, to put inside the form. */
  readonly fragment: DocumentFragment;
  /** The first control, to focus. */
  readonly first: HTMLElement | undefined;
  /** The entered values by property name; empty optional values are left out. */
  values(): Record<string, string>;
  /** Marks the control of a property the Broker refused (`aria-invalid`) and focuses it; the others are cleared. */
  markInvalid(name: string | undefined): void;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: JsonValue | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function count(value: JsonValue | undefined): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/**
 * Renders the controls for `schema`. Ids are prefixed so that they cannot
 * collide with the page's own (a property named `workspace`, say).
 */
export function renderCaptureFields(schema: JsonObject): CaptureFields {
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === "string") : []);
  const fragment = document.createDocumentFragment();
  const controls = new Map<string, HTMLInputElement | HTMLSelectElement>();

  for (const [name, prop] of Object.entries(properties)) {
    if (!isObject(prop)) continue;
    const id = `capture-field-${controls.size}`;
    const description = text(prop.description);
    const helpId = description === undefined ? undefined : `${id}-help`;
    const common = {
      id, name, required: required.has(name), "aria-describedby": helpId,
    };
    let control: HTMLInputElement | HTMLSelectElement;
    if (Array.isArray(prop.enum)) {
      const choices = prop.enum.filter((v): v is string => typeof v === "string");
      const fallback = text(prop.default);
      // An empty first option: for a required field the browser makes the user choose.
      control = h("select", common,
        h("option", { value: "", selected: fallback === undefined || !choices.includes(fallback) }, "Choose…"),
        ...choices.map((v) => h("option", { value: v, selected: v === fallback }, v)));
    } else {
      const secret = text(prop.format) === "password";
      const pattern = text(prop.pattern);
      control = h("input", {
        ...common,
        type: secret ? "password" : "text",
        // Keys are not words: no autocorrect; secrets never go to autofill.
        autocomplete: secret ? "off" : undefined, autocapitalize: "none", spellcheck: "false",
        minlength: count(prop.minLength), maxlength: count(prop.maxLength),
        // HTML anchors a pattern to the whole value; JSON Schema does not. Wrapping keeps the schema's meaning.
        pattern: pattern === undefined ? undefined : `.*(?:${pattern}).*`,
        value: secret ? undefined : text(prop.default),
      });
    }
    controls.set(name, control);
    fragment.append(
      h("label", { for: id }, text(prop.title) ?? name, required.has(name) ? h("span", { class: "required" }, " (required)") : undefined),
      control,
      helpId === undefined ? "" : h("p", { class: "help", id: helpId }, description),
    );
  }

  return {
    fragment,
    first: controls.values().next().value,
    values() {
      const out: Record<string, string> = {};
      for (const [name, control] of controls) {
        if (control.value !== "" || required.has(name)) out[name] = control.value;
      }
      return out;
    },
    markInvalid(name) {
      for (const [property, control] of controls) {
        if (property === name) {
          control.setAttribute("aria-invalid", "true");
          control.focus();
        } else {
          control.removeAttribute("aria-invalid");
        }
      }
    },
  };
}
