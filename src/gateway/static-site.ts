/**
 * Serves the web app's static files from memory, for createHttpApp's `pages`.
 * Runtime-neutral: the runtime loads the files (see
 * src/runtime/node/load-static-site.ts) and hands them over as bytes.
 */
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { once } from "../shared/server/error-response.ts";
import type { PageHandler } from "../shared/server/http-app.ts";

/** One file of the site. */
export interface StaticFile {
  readonly contentType: string;
  readonly body: Uint8Array;
}

/**
 * The policy every file is served with. The app's own script and styles only
 * (no inline code, so an injected string cannot run), API calls to this
 * origin only, no framing (a credential form must not be clickjacked), and no
 * <base> (relative URLs cannot be redirected). form-action allows http(s)
 * because the app's forms are submitted by script, never navigated.
 */
export const webAppContentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'";

/** Files that must be fetched fresh: the entry page (it names the assets) and the runtime configuration. */
const uncached = new Set(["index.html", "config.json"]);

/** Assets are not fingerprinted, so they are cached briefly: a new build reaches browsers within minutes. */
const assetCacheControl = "public, max-age=300";

/**
 * Creates the page handler. `files` is keyed by path relative to the site
 * root without a leading slash (`index.html`, `app.js`); `/` serves
 * `index.html`. Only GET and HEAD of a listed path are answered; anything
 * else yields undefined, so the caller's 404 applies.
 */
export function createStaticSite(files: ReadonlyMap<string, StaticFile>): PageHandler {
  return async (request, url) => {
    if (request.method !== "GET" && request.method !== "HEAD") return undefined;
    const path = url.pathname === "/" ? "index.html" : safeDecode(url.pathname.slice(1));
    if (path === undefined) return undefined;
    const file = files.get(path);
    if (file === undefined) return undefined;
    const header = new Headers({
      "content-type": file.contentType,
      "content-length": String(file.body.byteLength),
      "content-security-policy": webAppContentSecurityPolicy,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": uncached.has(path) ? "no-cache" : assetCacheControl,
    });
    const response: UniversalServerResponse = { status: 200, header };
    return request.method === "HEAD" ? response : { ...response, body: once(file.body) };
  };
}

function safeDecode(path: string): string | undefined {
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}
