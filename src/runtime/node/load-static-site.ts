/**
 * Loads a folder of static files (the built web app) into memory for the
 * Gateway's static site. Loaded once at start: the folder is small, and
 * serving from memory means no path ever reaches the file system at request
 * time, so no traversal is possible.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join, relative, sep } from "node:path";
import type { StaticFile } from "../../gateway/static-site.ts";

/** Content types by extension; anything else is served as bytes. */
const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".webmanifest": "application/manifest+json",
};

/** The content type for a file name. */
export function contentTypeOf(name: string): string {
  return contentTypes[extname(name).toLowerCase()] ?? "application/octet-stream";
}

/**
 * Reads every file under `dir` (dot files skipped) into a map keyed by its
 * path relative to `dir`, with `/` separators: `index.html`, `app.js`.
 * Throws when the folder or its index.html is missing, so a mistyped
 * GATEWAY_WEB_APP_DIR stops the Gateway rather than serving 404s.
 */
export async function loadStaticSite(dir: string): Promise<Map<string, StaticFile>> {
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) {
    throw new Error(`GATEWAY_WEB_APP_DIR "${dir}" is not a folder. Build the web app into it with: make web WEB_DIR=${dir}`);
  }
  const files = new Map<string, StaticFile>();
  async function walk(folder: string): Promise<void> {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      if (entry.name.startsWith(".")) continue;
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        files.set(relative(dir, path).split(sep).join("/"), { contentType: contentTypeOf(entry.name), body: new Uint8Array(await readFile(path)) });
      }
    }
  }
  await walk(dir);
  if (!files.has("index.html")) {
    throw new Error(`GATEWAY_WEB_APP_DIR "${dir}" has no index.html. Build the web app into it with: make web WEB_DIR=${dir}`);
  }
  return files;
}
