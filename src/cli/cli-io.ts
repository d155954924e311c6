/**
 * Everything the `nexus` command touches outside itself, injected so tests
 * drive it in process and so only src/runtime/ knows the runtime.
 */
export interface CliIo {
  /** Writes to standard output: data, and nothing else (a new key, a plan, JSON). */
  stdout(text: string): void;
  /** Writes to standard error: progress, warnings, errors. */
  stderr(text: string): void;
  /** The process environment. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether standard input and output are a terminal (prompts and colour are only for terminals). */
  readonly interactive: boolean;
  /** Whether to colour output: a terminal, and NO_COLOR unset. */
  readonly color: boolean;
  /** Reads a UTF-8 file; rejects with the reason when it cannot. */
  readFile(path: string): Promise<string>;
  /** Asks a yes/no question on the terminal. */
  confirm(question: string): Promise<boolean>;
  /** Milliseconds since the epoch. */
  now(): number;
  /** Waits `ms`, or until `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Aborted on Ctrl-C, for commands that run until interrupted (`audit --follow`). */
  readonly interrupted: AbortSignal;
  /** The fetch the Broker is reached with. */
  readonly fetch: typeof fetch;
  /** What `--version` prints: the version of the package the command came in. @default "0.0.0-dev" */
  readonly version?: string;
}

/** A failure the command reports in one line and turns into exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/** Exit codes (API.md): 0 done or no changes, 1 error, 2 `plan` found changes. */
export const exitCodes = { ok: 0, error: 1, changes: 2 } as const;
