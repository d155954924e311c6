import type { HandlerContext } from "@connectrpc/connect";
import { kCaller } from "../../shared/request-context.ts";

const onBehalfPattern = /^[a-z]{1,16}:[0-9a-f]{8}$/;

/**
 * Who is calling, for the audit log: the API key's identity, and the agent the
 * Gateway acts for when it says so in `x-nexus-caller` (trusted only because
 * the call itself carries a valid Broker key).
 */
export function callerOf(ctx: HandlerContext): string {
  const key = ctx.values.get(kCaller);
  const onBehalf = ctx.requestHeader.get("x-nexus-caller");
  if (onBehalf !== null && onBehalfPattern.test(onBehalf)) return `${onBehalf} via ${key}`;
  return key === "" ? "anonymous" : key;
}
