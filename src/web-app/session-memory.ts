/**
 * What the app remembers for this browser tab (sessionStorage): the agent
 * key, the current connection id and the last workspace and provider. Tab
 * scope on purpose: the agent key is a secret and must not outlive the tab,
 * yet it has to survive the round trip through the provider's consent page.
 */

/** The last "start a connection" choices, offered again after a failure. */
export interface LastStart {
  readonly workspace: string;
  readonly provider: string;
}

/** Tab-scoped memory of the app. */
export interface SessionMemory {
  agentKey(): string | undefined;
  setAgentKey(key: string): void;
  connectionId(): string | undefined;
  setConnectionId(id: string): void;
  lastStart(): LastStart | undefined;
  setLastStart(start: LastStart): void;
}

const keys = { agentKey: "nexus.agentKey", connectionId: "nexus.connectionId", lastStart: "nexus.lastStart" } as const;

/**
 * Creates the memory over a Storage. A storage that throws (blocked by the
 * browser's privacy settings) degrades to forgetting, never to a broken page.
 */
export function createSessionMemory(storage: Storage | undefined): SessionMemory {
  function read(key: string): string | undefined {
    try {
      return storage?.getItem(key) ?? undefined;
    } catch {
      return undefined;
    }
  }
  function write(key: string, value: string): void {
    try {
      if (value === "") storage?.removeItem(key);
      else storage?.setItem(key, value);
    } catch {
      // Storage is off: the app still works within this page load.
    }
  }
  return {
    agentKey: () => read(keys.agentKey),
    setAgentKey: (key) => write(keys.agentKey, key),
    connectionId: () => read(keys.connectionId),
    setConnectionId: (id) => write(keys.connectionId, id),
    lastStart() {
      try {
        const value: unknown = JSON.parse(read(keys.lastStart) ?? "null");
        if (typeof value !== "object" || value === null) return undefined;
        const { workspace, provider } = value as Record<string, unknown>;
        return typeof workspace === "string" && typeof provider === "string" ? { workspace, provider } : undefined;
      } catch {
        return undefined;
      }
    },
    setLastStart: (start) => write(keys.lastStart, JSON.stringify(start)),
  };
}

/** What the server may tell the app in `config.json` (development mode only). */
export interface ServerConfig {
  readonly agentKey?: string;
}

/**
 * Reads `config.json` next to the page. Production deployments do not serve
 * one (the operator must not hand out an agent key to every visitor), so a
 * missing or malformed file simply means "no defaults".
 */
export async function loadServerConfig(base: string): Promise<ServerConfig> {
  try {
    const response = await fetch(new URL("config.json", base), { cache: "no-store", credentials: "omit" });
    if (!response.ok) return {};
    const value: unknown = await response.json();
    if (typeof value !== "object" || value === null) return {};
    const agentKey = (value as Record<string, unknown>).agentKey;
    return typeof agentKey === "string" && agentKey !== "" ? { agentKey } : {};
  } catch {
    return {};
  }
}
