/**
 * The cursor of list RPCs ordered by (created_at, id) descending: opaque to
 * callers, and checked when it comes back. Pure, no I/O.
 */
import { invalidArgument } from "../../shared/errors.ts";
import { parseUuid } from "../../shared/input-rules.ts";

/** The cursor after `row`: the next page starts below it. */
export function encodePageToken(row: { readonly createdAt: Date; readonly id: string }): string {
  return btoa(JSON.stringify([row.createdAt.toISOString(), row.id])).replaceAll("=", "");
}

/** The position a cursor names; invalid_argument (page_token) for anything this API did not return. */
export function decodePageToken(token: string): { createdAt: Date; id: string } {
  try {
    const [at, id] = JSON.parse(atob(token)) as [string, string];
    const createdAt = new Date(at);
    if (Number.isNaN(createdAt.getTime())) throw new Error("bad date");
    return { createdAt, id: parseUuid(id, "page_token") };
  } catch {
    throw invalidArgument("page_token", "is not a token this API returned");
  }
}
