/**
 * Pieces for running oidc-provider in process, shared by the development
 * sandbox and the test IdP: an in-memory adapter with a grant index (so an
 * account's grants can be revoked), and a quiet loader.
 */
import type Provider from "oidc-provider";
import type { Adapter, AdapterPayload } from "oidc-provider";

/** An in-memory adapter store shared by all models, with a grant index so grants can be revoked by account. */
export function createMemoryStore() {
  const entries = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const byGrant = new Map<string, Set<string>>();
  const secondary = new Map<string, string>(); // "uid:..." / "userCode:..." -> key

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
      const key = `${model}:${id}`;
      const expiresAt = typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
      entries.set(key, { payload: structuredClone(payload), expiresAt });
      if (payload.grantId !== undefined && model !== "Grant") {
        const keys = byGrant.get(payload.grantId) ?? new Set<string>();
        byGrant.set(payload.grantId, keys.add(key));
      }
      if (payload.uid !== undefined) secondary.set(`uid:${payload.uid}`, key);
      if (payload.userCode !== undefined) secondary.set(`userCode:${payload.userCode}`, key);
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
    },
    async destroy(id) {
      entries.delete(`${model}:${id}`);
    },
    async revokeByGrantId(grantId) {
      revokeGrant(grantId);
    },
  });

  const revokeAccount = (accountId: string | undefined): void => {
    for (const [key, entry] of entries) {
      if (!key.startsWith("Grant:")) continue;
      if (accountId === undefined || entry.payload.accountId === accountId) revokeGrant(key.slice("Grant:".length));
    }
  };

  return { adapter, revokeAccount };
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
