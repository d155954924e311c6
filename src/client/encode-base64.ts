/**
 * Standard base64 (with padding) of bytes, without Buffer so it runs in
 * browsers and Deno too. Strings go through TextEncoder first, so non-ASCII
 * user names and passwords are encoded as UTF-8 rather than throwing in btoa.
 */
export function encodeBase64(input: Uint8Array | ArrayBuffer | string): string {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input instanceof Uint8Array ? input : new Uint8Array(input);
  let binary = "";
  // Chunked: String.fromCharCode with a huge spread overflows the call stack.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
