import { CliError, type CliIo } from "../cli-io.ts";

/** Secrets shorter than this are not searched for: they would mask ordinary words, and no real secret is that short. */
const shortest = 6;

/** Standard output and error that never show a secret. */
export interface RedactingOutput extends Pick<CliIo, "stdout" | "stderr"> {
  redact(text: string): string;
}

/**
 * A last line of defence: plan and apply never print a secret by design, and
 * this makes sure of it, replacing any secret value in their output, or in
 * the message of an error they end with, by `[redacted]`.
 */
export function redactingOutput(io: Pick<CliIo, "stdout" | "stderr">, secrets: readonly string[]): RedactingOutput {
  const values = [...new Set(secrets)].filter((s) => s.length >= shortest).sort((a, b) => b.length - a.length);
  const redact = (text: string) => values.reduce((out, s) => out.replaceAll(s, "[redacted]"), text);
  return { stdout: (text) => io.stdout(redact(text)), stderr: (text) => io.stderr(redact(text)), redact };
}

/** Runs `action`; an error whose message holds a secret is replaced by one that does not. */
export async function withRedactedErrors<R>(redact: (text: string) => string, action: () => Promise<R>): Promise<R> {
  try {
    return await action();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (redact(message) === message) throw error;
    throw new CliError(redact(message));
  }
}
