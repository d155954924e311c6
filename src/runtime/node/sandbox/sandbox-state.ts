import { randomBytes } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import type { StoredEntry } from "./oidc-memory-store.ts";

/**
 * What the sandbox provider must keep for a restart to change nothing for
 * the Broker: its client secret, signing key and cookie keys, and every
 * grant and token it issued. Development data only (the sandbox's own test
 * users), but it holds live tokens: the file is the owner's alone (0600).
 */
export interface SandboxState {
  readonly clientSecret: string;
  readonly signingKey: JWK;
  readonly cookieKeys: readonly string[];
  readonly entries: readonly StoredEntry[];
}

/** The saved state, or a new one when there is no file (or it does not parse: the sandbox starts afresh). */
export async function loadSandboxState(file: string | undefined): Promise<SandboxState> {
  const saved = file === undefined ? undefined : await readFile(file, "utf8").then((text) => parse(text), () => undefined);
  if (saved !== undefined) return saved;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return {
    clientSecret: randomBytes(24).toString("base64url"),
    signingKey: await exportJWK(privateKey),
    cookieKeys: [randomBytes(32).toString("base64url")],
    entries: [],
  };
}

function parse(text: string): SandboxState | undefined {
  try {
    const state = JSON.parse(text) as SandboxState;
    const ok = typeof state.clientSecret === "string" && typeof state.signingKey === "object" && Array.isArray(state.cookieKeys) && Array.isArray(state.entries);
    return ok ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Saves the state after changes: writes coalesce, and each replaces the file atomically (write aside, then rename). */
export function createStateSaver(file: string | undefined, current: () => SandboxState): { changed(): void; flush(): Promise<void> } {
  let writing: Promise<void> | undefined;
  let dirty = false;
  if (file === undefined) return { changed: () => {}, flush: async () => {} };
  const write = async (): Promise<void> => {
    while (dirty) {
      dirty = false;
      const aside = `${file}.${process.pid}.tmp`;
      try {
        await writeFile(aside, JSON.stringify(current()), { mode: 0o600 });
        await rename(aside, file);
      } catch (error) {
        await rm(aside, { force: true });
        process.stderr.write(`The sandbox could not save its grants to ${file} (${(error as Error).message}); a restart will ask users to consent again.\n`);
      }
    }
  };
  const changed = (): void => {
    dirty = true;
    if (writing !== undefined) return;
    writing = write().finally(() => {
      writing = undefined;
      // A change that came in after the loop's last look.
      if (dirty) changed();
    });
  };
  return {
    changed,
    async flush() {
      await writing;
    },
  };
}
