import { Code, ConnectError } from "@connectrpc/connect";

const reasons: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed",
  CERT_HAS_EXPIRED: "TLS certificate expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed TLS certificate",
};

/**
 * Why a call never reached the Broker, in a few words ("connection refused",
 * "host not found"), or undefined when it did reach it. fetch reports every
 * network failure as "fetch failed"; the reason is in its cause chain.
 */
export function networkFailure(error: unknown): string | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  if (error.code === Code.DeadlineExceeded) return "no answer in time";
  const causes: unknown[] = [];
  for (let c: unknown = error.cause; c instanceof Error && causes.length < 5; c = c.cause) causes.push(c);
  if (!causes.some((c) => c instanceof Error && /fetch failed|network|socket/i.test(c.message))) return undefined;
  for (const c of causes) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === "string") return reasons[code] ?? code;
  }
  const last = causes.at(-1);
  return last instanceof Error ? last.message : "fetch failed";
}
