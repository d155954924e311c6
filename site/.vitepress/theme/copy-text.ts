/**
 * Puts text on the clipboard, in a secure context or not. The asynchronous
 * Clipboard API exists only in secure contexts (https, localhost): a site
 * previewed at http://docs.internal:4173 has no navigator.clipboard. There,
 * and when the API refuses (no permission, the document not focused), the
 * text goes through a hidden textarea and document.execCommand("copy"),
 * which every browser still honours for a user's click.
 */
export async function copyText(text: string, win: Window = window): Promise<boolean> {
  const clipboard = win.isSecureContext ? win.navigator.clipboard : undefined;
  if (clipboard?.writeText !== undefined) {
    try {
      await clipboard.writeText(text);
      return true;
    } catch {
      // Refused: the fallback below may still work.
    }
  }
  return copyWithTextarea(text, win.document);
}

/** The fallback: select the text in an off-screen textarea and copy the selection. */
export function copyWithTextarea(text: string, doc: Document): boolean {
  const area = doc.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.setAttribute("aria-hidden", "true");
  // Kept in the viewport (fixed, transparent) so selecting it never scrolls the page.
  Object.assign(area.style, { position: "fixed", top: "0", left: "0", width: "1px", height: "1px", opacity: "0", pointerEvents: "none" });
  doc.body.appendChild(area);
  const selection = doc.getSelection();
  const kept = selection !== null && selection.rangeCount > 0 ? selection.getRangeAt(0) : undefined;
  area.select();
  area.setSelectionRange(0, text.length);
  let copied = false;
  try {
    copied = doc.execCommand("copy");
  } catch {
    copied = false;
  }
  area.remove();
  if (kept !== undefined && selection !== null) {
    selection.removeAllRanges();
    selection.addRange(kept);
  }
  return copied;
}
