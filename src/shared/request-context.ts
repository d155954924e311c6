import { createContextKey } from "@connectrpc/connect";

/**
 * Per-request facts that runtime entries learn from the socket and handlers
 * read from Connect's context values.
 */

/** The peer's address as the socket reports it (never a forwarded header). */
export const kRemoteAddress = createContextKey<string>("", { description: "remote address" });

/** Who is calling, set by the authentication interceptor, e.g. `agent:1a2b3c4d`. */
export const kCaller = createContextKey<string>("", { description: "caller identity" });
