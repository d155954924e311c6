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
 * network failure as a TypeError ("fetch failed"); the system error code
 * (ECONNREFUSED, ...) is further down its cause chain. Read from the errors'
 * types and codes, never from their messages.
 */
export function networkFailure(error: unknown): string | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  if (error.code === Code.DeadlineExceeded) return "no answer in time";
  const causes: Error[] = [];
  for (let c: unknown = error.cause; c instanceof Error && causes.length < 5; c = c.cause) causes.push(c);
  const codes = causes.map((c) => (c as { code?: unknown }).code).filter((code): code is string => typeof code === "string");
  if (!causes.some((c) => c instanceof TypeError) && codes.length === 0) return undefined;
  const known = codes.find((code) => reasons[code] !== undefined);
  return known !== undefined ? reasons[known] : codes[0] ?? "fetch failed";
}
