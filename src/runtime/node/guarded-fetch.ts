/**
 * The fetch the Broker gets in the Node runtime: plain HTTP/1.1 over node:http
 * and node:https, so every connection goes through a `lookup` that checks the
 * resolved addresses with the outbound policy. Node's built-in fetch has no
 * such hook short of an undici Dispatcher, which Node 20 does not export.
 * Redirects are never followed: a 3xx is returned as it came.
 */
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { pipeline, Readable } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { addressRefusal, classifyHost, type OutboundPolicy, OutboundRefusedError } from "../../broker/domain/outbound-url-policy.ts";
import type { FetchLike } from "../../broker/oauth/fetch-with-timeout.ts";
import { connectRefusal, createGuardedLookup, type Resolver } from "./guarded-lookup.ts";

/** Options of {@linkcode createGuardedFetch}. */
export interface GuardedFetchOptions extends OutboundPolicy {
  /** Resolves host names. @default the system resolver */
  readonly resolve?: Resolver;
}

/** A fetch with its connection pools. */
export interface GuardedFetch {
  readonly fetch: FetchLike;
  /** Closes pooled keep-alive connections. */
  close(): void;
}

/** Creates a fetch whose every connection is checked against the outbound policy, names by their DNS answers. */
export function createGuardedFetch(options: GuardedFetchOptions): GuardedFetch {
  const policy: OutboundPolicy = { allowLoopback: options.allowLoopback };
  const lookup = createGuardedLookup(policy, options.resolve);
  // Own pools: a socket some other code opened without this lookup must never be reused here.
  // The timeout lets the agent honour a server's Keep-Alive hint, so an idle socket is not reused as the server closes it.
  const agents = { "http:": new HttpAgent({ keepAlive: true, timeout: 4_000 }), "https:": new HttpsAgent({ keepAlive: true, timeout: 4_000 }) };

  const fetch: FetchLike = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`fetch failed: ${url.protocol} is not supported`);
    // IP literals never reach `lookup`, so the host itself is checked here.
    const refused = addressRefusal(classifyHost(url.hostname), policy);
    if (refused !== undefined) throw connectRefusal(url.hostname, url.hostname, refused);
    const body = request.body === null ? undefined : new Uint8Array(await request.arrayBuffer());
    const headers: Record<string, string> = { accept: "*/*", "user-agent": "nexus-broker", "accept-encoding": "identity" };
    request.headers.forEach((value, name) => void (headers[name] = value));
    if (body !== undefined) headers["content-length"] = String(body.byteLength);
    const signal = request.signal;
    signal.throwIfAborted();
    return new Promise<Response>((resolve, reject) => {
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(url, { method: request.method, headers, agent: agents[url.protocol as "http:"], lookup });
      const onAbort = () => req.destroy(signal.reason instanceof Error ? signal.reason : new DOMException("aborted", "AbortError"));
      signal.addEventListener("abort", onAbort, { once: true });
      req.on("error", (error) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) reject(signal.reason);
        else reject(error instanceof OutboundRefusedError ? error : new TypeError("fetch failed", { cause: error }));
      });
      req.on("response", (res) => {
        res.once("close", () => signal.removeEventListener("abort", onAbort));
        try {
          resolve(toResponse(res, request.method));
        } catch (error) {
          res.destroy();
          reject(new TypeError("fetch failed: malformed response", { cause: error }));
        }
      });
      req.end(body);
    });
  };

  return {
    fetch,
    close() {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
  };
}

const decoders: Record<string, () => NodeJS.ReadWriteStream> = {
  gzip: createGunzip, "x-gzip": createGunzip, deflate: createInflate, br: createBrotliDecompress,
};

function toResponse(res: IncomingMessage, method: string): Response {
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  const status = res.statusCode ?? 0;
  if (method === "HEAD" || status === 204 || status === 205 || status === 304) {
    res.resume();
    return new Response(null, { status, headers });
  }
  // Identity is asked for; a server that compresses anyway is still understood.
  const decoder = decoders[(headers.get("content-encoding") ?? "").trim().toLowerCase()];
  const stream: Readable = decoder === undefined ? res : (pipeline(res, decoder(), () => {}) as unknown as Readable);
  return new Response(Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>, { status, headers });
}
