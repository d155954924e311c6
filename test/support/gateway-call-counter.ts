/** A fetch for the client that counts the Gateway RPCs it carries, by method name. */
export function gatewayCallCounter(): { fetch: typeof fetch; calls: Record<string, number>; count(method: string): number } {
  const calls: Record<string, number> = {};
  const counting: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const method = /\/nexus\.gateway\.v1\.GatewayService\/(\w+)$/.exec(new URL(url).pathname)?.[1];
    if (method !== undefined) calls[method] = (calls[method] ?? 0) + 1;
    return fetch(input, init);
  };
  return { fetch: counting, calls, count: (method) => calls[method] ?? 0 };
}
