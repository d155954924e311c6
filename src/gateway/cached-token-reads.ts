import type { CallOptions, HandlerContext } from "@connectrpc/connect";
import type { Credential } from "../../gen/nexus/common/v1/credential_pb.ts";
import { kCaller } from "../shared/request-context.ts";
import { kAgentCredential } from "./agent-auth.ts";
import type { BrokerClients } from "./broker-clients.ts";
import type { CachedReadReporter } from "./cached-read-reporter.ts";
import { type TokenAnswerCache, tokenCacheKey } from "./token-answer-cache.ts";
import type { TokenCacheMetrics } from "./token-cache-metrics.ts";
import { cacheHintHeader, parseCacheHint } from "../shared/token-cache-hint.ts";


/** Dependencies of {@linkcode createCachedTokenReads}. */
export interface CachedTokenReadsDeps {
  readonly broker: Pick<BrokerClients, "connections">;
  readonly cache: TokenAnswerCache;
  /** The Broker whose change stream keeps the cache true; undefined while it is not in sync. */
  readonly watch: { readonly brokerId: string | undefined };
  readonly reporter: CachedReadReporter;
  readonly metrics: TokenCacheMetrics;
  /** A digest of an agent's API key (SHA-256): cache keys never hold the key itself. */
  readonly digest: (credential: string) => string;
}

/** GetToken for the Gateway's handler, answered from the cache when it can be. */
export interface CachedTokenReads {
  /** `options` are made only when the Broker is called (an answer from memory needs no deadline or signal). */
  get(connectionId: string, ctx: HandlerContext, options: () => CallOptions): Promise<Credential | undefined>;
}

/**
 * Answers a repeated GetToken of the same caller for the same connection from
 * the Gateway's memory: one process, no call to the Broker. The cache key is
 * the caller's own credential (a digest of a registered agent's API key, or
 * an unscoped key's name) with the connection, so an answer the Broker gave
 * one caller never answers another, and the Broker's access decision is
 * reused only for the very credential it was made for, until the change
 * stream says the connection, the agent or a provider changed. Signed
 * assertions are never cached: each carries a new `jti`, which only the
 * Broker can check against replays. Every answer from the cache is reported
 * to the Broker for the audit log.
 */
export function createCachedTokenReads(deps: CachedTokenReadsDeps): CachedTokenReads {
  const { cache, metrics } = deps;

  function callerOf(ctx: HandlerContext): string | undefined {
    const credential = ctx.values.get(kAgentCredential);
    if (credential !== "") return credential.startsWith("nxa_") ? `key:${deps.digest(credential)}` : undefined;
    const caller = ctx.values.get(kCaller);
    return caller === "" ? undefined : `unscoped:${caller}`;
  }

  return {
    async get(connectionId, ctx, options) {
      const caller = callerOf(ctx);
      if (caller === undefined || !cache.trusted) {
        metrics.lookup("bypass");
        return (await deps.broker.connections.getToken({ connectionId }, options())).credential;
      }
      const key = tokenCacheKey(connectionId, caller);
      const hit = cache.get(key);
      if (hit !== undefined) {
        metrics.lookup("hit");
        deps.reporter.record(hit.audit);
        return hit.credential;
      }
      metrics.lookup("miss");
      // Taken before asking: a change heard while the answer is on its way keeps it out of the cache.
      const ticket = cache.ticket();
      let hint: string | null = null;
      const call = options();
      const headers = new Headers(call.headers);
      headers.set(cacheHintHeader, "1");
      const r = await deps.broker.connections.getToken({ connectionId }, { ...call, headers, onHeader: (h) => (hint = h.get(cacheHintHeader)) });
      const kept = hint === null ? undefined : parseCacheHint(hint);
      // Only answers of the Broker whose stream we hear: another one may not have heard a change yet.
      if (r.credential !== undefined && kept !== undefined && kept.brokerId === deps.watch.brokerId) {
        // Frozen: every hit hands out this very object, and a frozen message's JSON is rendered once (rest-transcoder.ts).
        cache.set(ticket, key, { credential: deepFreeze(r.credential), audit: { ...kept.audit, connectionId } }, kept.maxAgeMs);
      }
      return r.credential;
    },
  };
}

/** Freezes a message and everything in it (a credential holds no byte fields, which cannot be frozen). */
function deepFreeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) {
    if (typeof v === "object" && v !== null && !ArrayBuffer.isView(v) && !Object.isFrozen(v)) deepFreeze(v);
  }
  return Object.freeze(value);
}
