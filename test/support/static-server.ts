/**
 * A static file server for a built site, as any plain web server serves it:
 * a path names a file under the root, `/` and folders serve their
 * index.html, anything else is the site's 404.html with status 404.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".json": "application/json",
  ".svg": "image/svg+xml", ".woff2": "font/woff2", ".png": "image/png", ".txt": "text/plain; charset=utf-8",
};

/** A running server. */
export interface StaticServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `root` on `host` (default 127.0.0.1) at a free port. */
export function serveStatic(root: string, host = "127.0.0.1"): Promise<StaticServer> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    let file = join(root, path);
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    const found = existsSync(file) && statSync(file).isFile();
    const served = found ? file : join(root, "404.html");
    res.writeHead(found ? 200 : 404, { "content-type": types[extname(served)] ?? "application/octet-stream" });
    createReadStream(served).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, host, () => {
    resolve({
      port: (server.address() as { port: number }).port,
      close: () => new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
    });
  }));
}
