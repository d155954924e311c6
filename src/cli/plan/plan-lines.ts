import type { Json } from "../manifest/manifest-types.ts";
import { canonicalJson } from "./canonical-json.ts";
import type { Change, FieldChange, Plan } from "./compute-plan.ts";

/** One line of a plan as people read it: `+` create, `~` update, `-` delete, `!` orphan; depth 1 is a field. */
export interface PlanLine {
  readonly marker: "+" | "~" | "-" | "!";
  readonly depth: 0 | 1;
  readonly text: string;
}

/** The plan as lines, shared by the text and Markdown renderings so both say the same. */
export function planLines(plan: Plan): PlanLine[] {
  const lines: PlanLine[] = [];
  for (const change of plan.changes) {
    const marker = change.action === "create" ? "+" : change.action === "update" ? "~" : "-";
    lines.push({ marker, depth: 0, text: heading(change) });
    for (const field of change.fields) lines.push({ marker, depth: 1, text: fieldText(field) });
  }
  for (const orphan of plan.orphans) {
    const would = orphan.kind === "agent" ? "disable" : "delete";
    lines.push({ marker: "!", depth: 0, text: `orphan ${orphan.kind} ${orphan.name}: not in the manifest; --prune would ${would} it` });
  }
  return lines;
}

/** "1 to create, 2 to update, 0 to delete". */
export function summaryText(plan: Plan): string {
  const { create, update, delete: remove } = plan.summary;
  return `${create} to create, ${update} to update, ${remove} to delete`;
}

/** Whether applying the plan would change anything (orphans alone do not). */
export function hasChanges(plan: Plan): boolean {
  return plan.changes.length > 0;
}

function heading(change: Change): string {
  if (change.action === "delete" && change.kind === "agent") return `disable agent ${change.name} (agents are disabled, not deleted: the audit log keeps them)`;
  return `${change.action} ${change.kind} ${change.name}`;
}

function fieldText(f: FieldChange): string {
  // A secret is write-only: a plan says that it changes, never what it is (nor its fingerprint).
  if ("secret" in f) return `${f.field} ${f.secret} (write-only; value not shown)`;
  return "old" in f ? `${f.field}: ${show(f.old ?? null)} -> ${show(f.new)}` : `${f.field}: ${show(f.new)}`;
}

/** A value as JSON (keys sorted); unset as "(none)". */
function show(value: Json): string {
  return value === null ? "(none)" : canonicalJson(value);
}
