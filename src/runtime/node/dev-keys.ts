/**
 * The development keys of `make run`, kept in the git-ignored .nexus/dev.env
 * (mode 600): the vault and state keys and the admin key, created once, and
 * the development agent's id and key, written once the Broker registered it.
 * Development only.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** The registered development agent as dev.env remembers it. */
export interface StoredAgent {
  readonly id: string;
  readonly key: string;
}

/** What dev.env holds. */
export interface DevelopmentKeys {
  /** Variables for the Broker and the Gateway (ENCRYPTION_KEY, STATE_KEY, API_KEY). */
  readonly serviceEnv: Record<string, string>;
  /** The development agent, once registered. */
  readonly agent: StoredAgent | undefined;
  /** Set when an AGENT_API_KEYS line from an older `make run` was removed from the file. */
  readonly removedUnscopedKey: boolean;
}

const header = "# Nexus development keys, created by `make run`. FOR DEVELOPMENT ONLY: never use them in production.";
const agentComment = "# The development agent `make run` registered on the Broker (read by make run only, never by the services).";
// make run's own lines, not service variables: they never reach the Broker's or the Gateway's environment.
const agentId = "NEXUS_DEV_AGENT_ID";
const agentKey = "NEXUS_DEV_AGENT_KEY";

/**
 * Reads `file`, creating it with fresh random keys the first time. An
 * `AGENT_API_KEYS` line an older `make run` wrote is removed: development now
 * uses a registered agent, and an unscoped key would let every caller use
 * every connection.
 */
export async function loadDevelopmentKeys(file: string): Promise<DevelopmentKeys> {
  if (!existsSync(file)) {
    const key = () => randomBytes(32).toString("base64");
    const token = (prefix: string) => `${prefix}_${randomBytes(24).toString("base64url")}`;
    const lines = [header, `ENCRYPTION_KEY=${key()}`, `STATE_KEY=${key()}`, `API_KEY=${token("nxadmin")}`];
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${lines.join("\n")}\n`, { mode: 0o600 });
  }
  let lines = (await readFile(file, "utf8")).split("\n");
  const legacy = lines.some((l) => /^AGENT_API_KEYS=nxagent_/.test(l));
  if (legacy) {
    lines = lines.filter((l) => !/^AGENT_API_KEYS=nxagent_/.test(l));
    await writeLines(file, lines);
  }
  const entries = Object.fromEntries(lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  const { [agentId]: id, [agentKey]: storedKey, ...serviceEnv } = entries;
  return {
    serviceEnv,
    agent: id !== undefined && id !== "" && storedKey !== undefined && storedKey !== "" ? { id, key: storedKey } : undefined,
    removedUnscopedKey: legacy,
  };
}

/** Writes the development agent's id and key into `file`, replacing any earlier ones. */
export async function saveDevelopmentAgent(file: string, agent: StoredAgent): Promise<void> {
  const kept = (await readFile(file, "utf8")).split("\n")
    .filter((l) => l !== agentComment && !l.startsWith(`${agentId}=`) && !l.startsWith(`${agentKey}=`));
  while (kept.length > 0 && kept[kept.length - 1] === "") kept.pop();
  await writeLines(file, [...kept, agentComment, `${agentId}=${agent.id}`, `${agentKey}=${agent.key}`]);
}

async function writeLines(file: string, lines: readonly string[]): Promise<void> {
  const body = lines.join("\n").replace(/\n*$/, "\n");
  await writeFile(file, body, { mode: 0o600 });
  // writeFile applies the mode only when it creates the file.
  await chmod(file, 0o600);
}
