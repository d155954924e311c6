import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { TokenCacheService, WatchTokenChangesResponseSchema } from "../../../gen/nexus/broker/v1/token_cache_service_pb.ts";
import { invalidArgument, NexusError } from "../../shared/errors.ts";
import { isName } from "../../shared/input-rules.ts";
import type { BrokerMetrics } from "../domain/ports.ts";
import type { ReadCoalescer } from "../services/read-coalescer.ts";
import type { TokenChange, TokenChangeHub } from "../services/token-change-hub.ts";
import { principalOf } from "./caller.ts";

/** What the TokenCacheService RPCs use. */
export interface TokenCacheHandlerDeps {
  readonly hub: TokenChangeHub;
  readonly reads: Pick<ReadCoalescer, "add">;
  readonly metrics: Pick<BrokerMetrics, "tokenGet">;
  /** This Broker's instance id. */
  readonly brokerId: string;
  /** Changes waiting for one slow Gateway past which they collapse into one `everything`. @default 10000 */
  readonly maxQueued?: number;
}

const maxEntries = 10_000;
const maxCount = 1_000_000_000;

/** The TokenCacheService RPCs: the Gateway's change stream and its cached reads. */
export function createTokenCacheHandlers(deps: TokenCacheHandlerDeps): ServiceImpl<typeof TokenCacheService> {
  const maxQueued = deps.maxQueued ?? 10_000;

  return {
    async *watchTokenChanges(_req, ctx) {
      requireOperator(ctx);
      let queue: TokenChange[] = [];
      let closed = false;
      let wake: (() => void) | undefined;
      const poke = () => {
        wake?.();
        wake = undefined;
      };
      const unsubscribe = deps.hub.subscribe({
        change(change) {
          // A Gateway that cannot keep up loses nothing by forgetting everything instead.
          if (queue.length >= maxQueued) queue = [{ kind: "everything" }];
          queue.push(change);
          poke();
        },
        closed() {
          closed = true;
          poke();
        },
      });
      const onAbort = () => poke();
      ctx.signal.addEventListener("abort", onAbort);
      try {
        for (;;) {
          while (queue.length > 0 && !ctx.signal.aborted) yield toMessage(queue.shift()!, deps.brokerId);
          if (closed || ctx.signal.aborted) return;
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        ctx.signal.removeEventListener("abort", onAbort);
        unsubscribe();
      }
    },
    async recordCachedReads(req, ctx) {
      requireOperator(ctx);
      if (req.reads.length > maxEntries) throw invalidArgument("reads", `at most ${maxEntries} entries per request`);
      const reads = req.reads.map((r, i) => {
        const count = Number(r.count);
        if (!Number.isSafeInteger(count) || count < 1 || count > maxCount) throw invalidArgument(`reads[${i}].count`, "must be a positive count");
        if (r.firstTime === undefined || r.lastTime === undefined) throw invalidArgument(`reads[${i}]`, "first_time and last_time are required");
        const firstMs = timestampMs(r.firstTime);
        const lastMs = timestampMs(r.lastTime);
        if (!(firstMs <= lastMs)) throw invalidArgument(`reads[${i}].last_time`, "must not be before first_time");
        // A metric label is a registered provider's name or "unknown", never free text.
        const providerName = isName(r.providerName) ? r.providerName : "unknown";
        // The ids were checked (and read in lowercase) by the contract's input rules.
        return {
          connectionId: r.connectionId,
          ...(r.providerId === "" ? {} : { providerId: r.providerId }),
          providerName,
          caller: r.caller,
          ...(r.agentId === "" ? {} : { agentId: r.agentId }),
          count, firstMs, lastMs,
        };
      });
      for (const r of reads) {
        deps.reads.add(r);
        deps.metrics.tokenGet(r.providerName, "success", r.count);
      }
      return {};
    },
  };
}

/** Only the Broker key's holder (the Gateway) may watch changes or report reads, not an agent it acts for. */
function requireOperator(ctx: HandlerContext): void {
  if (principalOf(ctx).kind !== "operator") throw new NexusError("permission_denied", "only the Gateway (the Broker's API key, with no agent) may call this");
}

function toMessage(change: TokenChange, brokerId: string): MessageInitShape<typeof WatchTokenChangesResponseSchema> {
  switch (change.kind) {
    case "state":
      return { change: { case: "state", value: { inSync: change.inSync, brokerId } } };
    case "connection":
      return { change: { case: "connectionId", value: change.connectionId } };
    case "agent":
      return { change: { case: "agentId", value: change.agentId } };
    case "everything":
      return { change: { case: "everything", value: true } };
  }
}
