/**
 * The cache hint: how a Broker tells a Gateway that asks whether, how long
 * and as whose read it may keep a GetToken answer. Both sides of the wire
 * format live here, so the Broker's writer and the Gateway's reader cannot
 * drift. The hint carries ids and names, never a secret.
 */

/** The request header a Gateway sends ("1") to ask for a hint, and the response header that carries it. */
export const cacheHintHeader = "x-nexus-cache-hint";

/** What a hint says about one GetToken answer. */
export interface CacheHint {
  /** The instance id of the Broker that answered: only the Broker whose change stream a Gateway hears counts. */
  readonly brokerId: string;
  /** How long the answer stays true barring a change, in ms (more than 0). */
  readonly maxAgeMs: number;
  /** Who the read is audited as, as the Broker named it. */
  readonly audit: { readonly providerId: string; readonly providerName: string; readonly caller: string; readonly agentId: string };
}

/** The header value of a hint. */
export function formatCacheHint(hint: CacheHint): string {
  return new URLSearchParams({
    broker: hint.brokerId,
    max_age_ms: String(hint.maxAgeMs),
    provider_id: hint.audit.providerId,
    provider: hint.audit.providerName,
    caller: hint.audit.caller,
    agent: hint.audit.agentId,
  }).toString();
}

/** A hint read back from its header value; undefined when it allows no keeping (no positive max age). */
export function parseCacheHint(value: string): CacheHint | undefined {
  const p = new URLSearchParams(value);
  const maxAgeMs = Number(p.get("max_age_ms"));
  if (!(maxAgeMs > 0)) return undefined;
  return {
    brokerId: p.get("broker") ?? "",
    maxAgeMs,
    audit: { providerId: p.get("provider_id") ?? "", providerName: p.get("provider") ?? "", caller: p.get("caller") ?? "", agentId: p.get("agent") ?? "" },
  };
}
