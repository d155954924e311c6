import type { TestStack } from "./stack.ts";

/** A JSON answer from a REST call. */
export interface JsonReply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** Calls the Broker's REST admin API with the admin key. */
export function brokerRest(stack: TestStack, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonReply> {
  return brokerRestAt(stack.broker.url, stack.adminKey, method, path, body, headers);
}

/** Calls the REST admin API of the Broker at `url` with `apiKey`, for tests that start their own Brokers. */
export async function brokerRestAt(url: string, apiKey: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonReply> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { "x-api-key": apiKey, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
}

/** Registers a provider and returns its id; fails loudly when registration fails. */
export async function registerProvider(stack: TestStack, profile: Record<string, unknown>): Promise<string> {
  const r = await brokerRest(stack, "POST", "/providers", { profile });
  if (r.status !== 201) throw new Error(`registration failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as string;
}

/** Follows the browser back to the Broker's callback with the provider's answer. */
export async function deliverCallback(stack: TestStack, providerRedirect: URL): Promise<Response> {
  return fetch(`${stack.broker.url}/auth/callback${providerRedirect.search}`, { redirect: "manual" });
}

/** A fetch that records what the Broker sends to providers and what they answer, for leak scans. */
export function recordingFetch(): { fetch: typeof fetch; tokenResponses: string[]; tokenRequests: number } {
  const log = { tokenResponses: [] as string[], tokenRequests: 0 };
  const wrapped: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const res = await fetch(input, init);
    if (/\/token$/.test(new URL(url).pathname)) {
      log.tokenRequests++;
      log.tokenResponses.push(await res.clone().text());
    }
    return res;
  };
  return Object.assign(log, { fetch: wrapped });
}
