import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { inputPatterns } from "../shared/input-rules.ts";

/** The colours a cell may be painted in (on a terminal only). */
export type Colour = "red" | "green" | "yellow" | "dim" | "bold";

/** A column of a text table. */
export interface Column {
  readonly header: string;
  /**
   * Whether the column may be cut (ending in `…`) so the table fits its width.
   * Ids stay whole: they are copied into the next command.
   * @default false
   */
  readonly shrink?: boolean;
  /**
   * The narrowest a shrinkable column is cut to (never narrower than its header).
   * @default 6
   */
  readonly min?: number;
}

/** A cell: its text, or its text and a colour for terminals. */
export type Cell = string | { readonly text: string; readonly colour?: Colour | undefined };

/** How to paint a cell; the identity when colour is off. */
export type Paint = (colour: Colour, text: string) => string;

/** The width of every table the command prints: readable in a 100-column terminal. */
export const tableWidth = 100;

const gap = "  ";

/** A cell's text and colour. */
function parts(cell: Cell | undefined): { text: string; colour: Colour | undefined } {
  if (cell === undefined) return { text: "", colour: undefined };
  // One line per row: a description with a newline must not break the table.
  return typeof cell === "string" ? { text: oneLine(cell), colour: undefined } : { text: oneLine(cell.text), colour: cell.colour };
}

const controlRuns = new RegExp(`${inputPatterns.controlCharacter.source}+`, "gu");
const oneLine = (text: string) => text.replace(controlRuns, " ");

/** Display width in columns: one per code point (names and ids are ASCII; this is close enough for the rest). */
export function displayWidth(text: string): number {
  return [...text].length;
}

/** `text` cut to `width` columns, ending in `…` when it was cut. */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  return width <= 0 ? "" : `${chars.slice(0, width - 1).join("")}…`;
}

/**
 * The column widths that fit `rows` into `width` columns: each column as wide
 * as its widest cell, then the widest shrinkable column cut one column at a
 * time until the table fits (or nothing can be cut further, when the table
 * stays wider: ids are never cut).
 */
export function layoutTable(columns: readonly Column[], rows: readonly (readonly Cell[])[], width: number = tableWidth): number[] {
  const widths = columns.map((c, i) => Math.max(displayWidth(c.header), ...rows.map((r) => displayWidth(parts(r[i]).text))));
  const floor = columns.map((c) => Math.max(displayWidth(c.header), c.min ?? 6));
  const total = () => widths.reduce((a, b) => a + b, 0) + gap.length * (columns.length - 1);
  while (total() > width) {
    let widest = -1;
    columns.forEach((c, i) => {
      if (c.shrink === true && widths[i]! > floor[i]! && (widest === -1 || widths[i]! > widths[widest]!)) widest = i;
    });
    if (widest === -1) break;
    widths[widest]!--;
  }
  return widths;
}

/** One row at the given widths: cells cut to their column, padded, painted; no trailing spaces. */
export function formatRow(widths: readonly number[], cells: readonly Cell[], paint: Paint): string {
  const last = widths.length - 1;
  return widths.map((w, i) => {
    const { text, colour } = parts(cells[i]);
    const cut = truncate(text, w);
    const padded = i === last ? cut : cut + " ".repeat(Math.max(0, w - displayWidth(cut)));
    // Paint the text only, so the padding (and the alignment) is the same with colour or without.
    return colour === undefined || cut === "" ? padded : paint(colour, cut) + padded.slice(cut.length);
  }).join(gap).trimEnd();
}

/** The header row, bold on a terminal. */
export function formatHeader(columns: readonly Column[], widths: readonly number[], paint: Paint): string {
  return formatRow(widths, columns.map((c) => ({ text: c.header, colour: "bold" as const })), paint);
}

/**
 * A table as text, one line per row after a header, fitted to `width`
 * columns (100 by default); ends with a newline.
 */
export function renderTable(columns: readonly Column[], rows: readonly (readonly Cell[])[], options: { paint?: Paint; width?: number } = {}): string {
  const paint = options.paint ?? ((_colour, text) => text);
  const widths = layoutTable(columns, rows, options.width ?? tableWidth);
  return [formatHeader(columns, widths, paint), ...rows.map((r) => formatRow(widths, r, paint))].map((line) => `${line}\n`).join("");
}

/** A time to the minute in UTC ("2026-06-01 12:00"), or "-" when absent. */
export function formatMinute(time: Timestamp | Date | undefined): string {
  return formatTime(time, 16);
}

/** A time to the second in UTC ("2026-06-01 12:00:05"), or "-" when absent. */
export function formatSecond(time: Timestamp | Date | undefined): string {
  return formatTime(time, 19);
}

function formatTime(time: Timestamp | Date | undefined, length: number): string {
  if (time === undefined) return "-";
  const date = time instanceof Date ? time : new Date(Number(time.seconds) * 1000 + Math.floor(time.nanos / 1e6));
  return Number.isNaN(date.getTime()) ? "-" : date.toISOString().slice(0, length).replace("T", " ");
}
