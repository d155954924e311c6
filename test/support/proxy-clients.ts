/**
 * Clients that reach a reverse proxy the way the public reaches the production host: by its name
 * (nexus.example.com, as in deploy/), over TLS verified against the test's CA, with the name pinned
 * to 127.0.0.1 so no DNS is asked. gRPC and Connect go over HTTP/2, gRPC-Web and REST over HTTP/1.1.
 */
import type { LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import { request as httpRequest } from "node:http";
import { request } from "node:https";
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

/** The host name the committed configurations serve. */
export const publicHost = "nexus.example.com";

/** Resolves {@linkcode publicHost} to 127.0.0.1 and refuses every other name. */
export const pinnedLookup = ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
  if (hostname !== publicHost) return callback(new Error(`the proxy test resolves only ${publicHost}, not ${hostname}`));
  const answer: LookupAddress = { address: "127.0.0.1", family: 4 };
  return options.all === true ? callback(null, [answer]) : callback(null, answer.address, answer.family);
}) as unknown as LookupFunction;

/** One proxy port, as a client sees it. */
export interface ProxyEndpoint {
  /** `https://nexus.example.com:<port>`. */
  readonly baseUrl: string;
  /** The CA that signed the proxy's certificate (PEM). */
  readonly ca: string;
}

/** The three Connect-family transports over TLS through the proxy. */
export function proxyTransports(endpoint: ProxyEndpoint): { grpc: Transport; grpcWeb: Transport; connect: Transport } {
  const tls = { ca: endpoint.ca, lookup: pinnedLookup };
  return {
    grpc: createGrpcTransport({ baseUrl: endpoint.baseUrl, nodeOptions: tls }),
    grpcWeb: createGrpcWebTransport({ baseUrl: endpoint.baseUrl, httpVersion: "1.1", nodeOptions: tls }),
    connect: createConnectTransport({ baseUrl: endpoint.baseUrl, httpVersion: "2", nodeOptions: tls }),
  };
}

/** An HTTP/1.1 answer, read whole. */
export interface PlainAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  /** The body parsed as JSON (throws when it is not). */
  json<T = Record<string, unknown>>(): T;
}

/** An HTTP/1.1 request over TLS through the proxy, as curl or a browser would send it. */
export function httpsCall(
  endpoint: ProxyEndpoint, method: string, path: string, options: { headers?: Record<string, string>; json?: unknown } = {},
): Promise<PlainAnswer> {
  const body = options.json === undefined ? undefined : JSON.stringify(options.json);
  const headers = { ...options.headers, ...(body === undefined ? {} : { "content-type": "application/json" }) };
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, endpoint.baseUrl), { method, headers, ca: endpoint.ca, lookup: pinnedLookup, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("error", reject);
      res.on("end", () => resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: text,
        json: <T>() => JSON.parse(text) as T,
      }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** What plain HTTP on `port` answers for `path`: the status and the redirect target, if any. */
export function plainHttpAnswer(port: number, path: string): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: publicHost, port, path, lookup: pinnedLookup, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
    });
    req.on("error", reject);
    req.end();
  });
}
