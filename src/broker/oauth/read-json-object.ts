/**
 * Reads a provider's response body as a JSON object, with a size cap: provider
 * responses are untrusted input and must not be able to exhaust memory.
 */

/** Largest body the engine reads from a provider (1 MiB). */
export const maxProviderBodyBytes = 1024 * 1024;

/** A parsed JSON object. */
export type JsonObjectBody = Record<string, unknown>;

/**
 * Reads `response`'s body and parses it as JSON. Returns `undefined` when the
 * body is absent, larger than `maxBytes`, not JSON, or JSON that is not an
 * object (arrays and null included). Never throws for bad content; rejects
 * only when the body stream fails (network error, deadline), which callers
 * treat as a transient failure rather than a bad answer.
 */
export async function readJsonObject(response: Response, maxBytes = maxProviderBodyBytes): Promise<JsonObjectBody | undefined> {
  return parseJsonObject(await readLimitedText(response, maxBytes));
}

/** The JSON object `text` holds, or `undefined` (absent, not JSON, or JSON that is not an object). */
export function parseJsonObject(text: string | undefined): JsonObjectBody | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObjectBody) : undefined;
}

/** Reads at most `maxBytes` of a body as UTF-8; `undefined` if it is absent or longer; rejects if the stream fails. */
export async function readLimitedText(response: Response, maxBytes = maxProviderBodyBytes): Promise<string | undefined> {
  if (response.body === null) return undefined;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        return undefined;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** Discards a body we will not read, so the connection can be reused. */
export async function discardBody(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => {});
}

/**
 * A 200 carrying `body` as JSON: how an answer Nexus has already read,
 * capped and adapted is handed to oauth4webapi, which checks the status and
 * content type of what it processes.
 */
export function jsonResponse(body: Readonly<Record<string, unknown>>): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
}
