/**
 * Small DOM helpers. Everything the app shows is built with these: text goes
 * in as text nodes, never as HTML, so nothing from the server (provider
 * descriptions, error messages, secrets) can become markup or script.
 */

/** A child of {@linkcode h}: a node, text, or nothing (skipped, for conditional parts). */
export type Child = Node | string | undefined | false;

/** Attribute values of {@linkcode h}: `true` sets an empty attribute, `false`/`undefined` leave it out. */
export type Attrs = Readonly<Record<string, string | number | boolean | undefined>>;

/** Creates an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, ...children);
  return element;
}

/** Appends children, turning strings into text nodes. */
export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Replaces all children of `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** The element with `id`, checked to be of the expected kind; a missing one is a bug in index.html. */
export function byId<T extends HTMLElement>(id: string, kind: { new (): T; prototype: T }): T {
  const element = document.getElementById(id);
  if (!(element instanceof kind)) throw new Error(`index.html lacks #${id} (${kind.name})`);
  return element;
}

/**
 * Moves focus to a heading or region so keyboard and screen-reader users land
 * where the page changed. The target needs tabindex="-1" in the markup.
 */
export function moveFocus(element: HTMLElement): void {
  element.focus({ preventScroll: false });
}
