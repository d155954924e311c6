/**
 * Pieces for running oidc-provider in process, shared by the development
 * sandbox and the test IdP: an in-memory adapter with a grant index (so an
 * account's grants can be revoked), and a quiet loader.
 */
import type Provider from "oidc-provider";
import type { Adapter, AdapterPayload } from "oidc-provider";

/** One stored model instance: its key is "Model:id"; `expiresAt` is epoch ms, null for never. */
export type StoredEntry = [key: string, payload: AdapterPayload, expiresAt: number | null];

/** Options of {@linkcode createMemoryStore}. */
export interface MemoryStoreOptions {
  /** Entries saved by an earlier process (see `saved()`). */
  readonly restore?: readonly StoredEntry[];
  /** Called after every change, to save them. */
  readonly onChange?: () => void;
}

/**
 * An in-memory adapter store shared by all models, with a grant index so
 * grants can be revoked by account. `saved()` and `restore` let a process
 * keep its grants and tokens across restarts.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}) {
  const entries = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const byGrant = new Map<string, Set<string>>();
  const secondary = new Map<string, string>(); // "uid:..." / "userCode:..." -> key
  const changed = options.onChange ?? (() => {});
  const put = (key: string, payload: AdapterPayload, expiresAt: number) => {
    entries.set(key, { payload: structuredClone(payload), expiresAt });
    if (payload.grantId !== undefined && !key.startsWith("Grant:")) {
      const keys = byGrant.get(payload.grantId) ?? new Set<string>();
      byGrant.set(payload.grantId, keys.add(key));
    }
    if (payload.uid !== undefined) secondary.set(`uid:${payload.uid}`, key);
    if (payload.userCode !== undefined) secondary.set(`userCode:${payload.userCode}`, key);
  };
  for (const [key, payload, expiresAt] of options.restore ?? []) {
    if (expiresAt === null || expiresAt > Date.now()) put(key, payload, expiresAt ?? Number.POSITIVE_INFINITY);
  }

  const get = (key: string): AdapterPayload | undefined => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return structuredClone(entry.payload);
  };
  const revokeGrant = (grantId: string): void => {
    for (const key of byGrant.get(grantId) ?? []) entries.delete(key);
    byGrant.delete(grantId);
    entries.delete(`Grant:${grantId}`);
  };

  const adapter = (model: string): Adapter => ({
    async upsert(id, payload, expiresIn) {
      const expiresAt = typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
      put(`${model}:${id}`, payload, expiresAt);
      changed();
    },
    async find(id) {
      return get(`${model}:${id}`);
    },
    async findByUid(uid) {
      const key = secondary.get(`uid:${uid}`);
      return key === undefined ? undefined : get(key);
    },
    async findByUserCode(userCode) {
      const key = secondary.get(`userCode:${userCode}`);
      return key === undefined ? undefined : get(key);
    },
    async consume(id) {
      const entry = entries.get(`${model}:${id}`);
      if (entry !== undefined) entry.payload.consumed = Math.floor(Date.now() / 1000);
      changed();
    },
    async destroy(id) {
      entries.delete(`${model}:${id}`);
      changed();
    },
    async revokeByGrantId(grantId) {
      revokeGrant(grantId);
      changed();
    },
  });

  const revokeAccount = (accountId: string | undefined): void => {
    for (const [key, entry] of entries) {
      if (!key.startsWith("Grant:")) continue;
      if (accountId === undefined || entry.payload.accountId === accountId) revokeGrant(key.slice("Grant:".length));
    }
    changed();
  };

  /** Every entry not yet expired, to save. */
  const saved = (): StoredEntry[] =>
    [...entries].filter(([, e]) => e.expiresAt > Date.now()).map(([key, e]) => [key, e.payload, Number.isFinite(e.expiresAt) ? e.expiresAt : null]);

  return { adapter, revokeAccount, saved };
}


let providerClass: typeof Provider | undefined;

/** Imports oidc-provider once, without its "unsupported runtime" notice on Node 20. */
export async function loadProvider(): Promise<typeof Provider> {
  providerClass ??= (await quietly(() => import("oidc-provider"))).default;
  return providerClass;
}

/** Runs `fn` with oidc-provider's console notices muted; everyone else's output passes through. */
export async function quietly<T>(fn: () => T | Promise<T>): Promise<T> {
  const { warn, info } = console;
  const filter =
    (write: (...args: unknown[]) => void) =>
    (...args: unknown[]): void => {
      if (typeof args[0] === "string" && args[0].includes("oidc-provider ")) return;
      write(...args);
    };
  console.warn = filter(warn);
  console.info = filter(info);
  try {
    return await fn();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}
