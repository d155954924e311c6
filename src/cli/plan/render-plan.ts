import type { Plan } from "./compute-plan.ts";
import { hasChanges, planLines, summaryText } from "./plan-lines.ts";

/** Colours a marker (the CLI context's paint: colour on terminals only). */
export type Paint = (colour: "red" | "green" | "yellow" | "dim" | "bold", text: string) => string;

const colours = { "+": "green", "~": "yellow", "-": "red", "!": "dim" } as const;

/** The plan for people, as plan prints it and apply shows it before asking. */
export function renderPlanText(plan: Plan, hash: string, where: { file: string; brokerUrl: string }, paint: Paint): string {
  const body = planLines(plan).map((l) => `${l.depth === 0 ? "  " : "      "}${paint(colours[l.marker], l.marker)} ${l.text}`);
  if (!hasChanges(plan)) {
    return `${body.length > 0 ? `${body.join("\n")}\n\n` : ""}No changes: the Broker at ${shownUrl(where.brokerUrl)} matches ${where.file}.\n`;
  }
  return `Plan for ${where.file} against the Broker at ${shownUrl(where.brokerUrl)}:\n\n${body.join("\n")}\n\n` +
    `${paint("bold", `Plan: ${summaryText(plan)}.`)}\nPlan hash: ${hash}\n`;
}

/**
 * The plan as a comment-ready Markdown body for a pull request: a heading
 * with the counts and a `diff` block (creates green, deletes red on GitHub).
 * Leaves out the Broker's URL: a PR comment is read more widely than CI logs.
 */
export function renderPlanMarkdown(plan: Plan, hash: string, file: string): string {
  const lines = planLines(plan).map((l) => `${l.marker} ${"    ".repeat(l.depth)}${l.text}`);
  const fence = "`".repeat(Math.max(3, ...lines.map((l) => longestRun(l, "`") + 1)));
  const name = file.replaceAll("`", "'");
  const title = hasChanges(plan) ? `### Nexus plan: ${summaryText(plan)}` : "### Nexus plan: no changes";
  const intro = hasChanges(plan) ? `Applying \`${name}\` would make these changes:` : `The Broker matches \`${name}\`.`;
  const block = lines.length > 0 ? `\n${fence}diff\n${lines.join("\n")}\n${fence}\n` : "";
  return `${title}\n\n${intro}\n${block}\nPlan hash: \`${hash}\`\n`;
}

/** The Broker's URL as printed: without any user:password it may carry. */
export function shownUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  parsed.username = "";
  parsed.password = "";
  return parsed.href.replace(/\/$/, "");
}

function longestRun(text: string, char: string): number {
  let best = 0;
  let run = 0;
  for (const c of text) {
    run = c === char ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}
