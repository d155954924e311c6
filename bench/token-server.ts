/**
 * A loopback OAuth token endpoint for the refresh benchmark, run as its own
 * process. It rotates refresh tokens like a strict provider: a refresh token
 * is valid once, and presenting a used one is counted as a duplicate (and
 * answered invalid_grant, as reuse detection would). GET /stats reports counts.
 *
 *   node --import tsx bench/token-server.ts <port>
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";

const port = Number(process.argv[2] ?? 0);
const valid = new Set<string>();
const used = new Set<string>();
let refreshes = 0;
let duplicates = 0;
let unknown = 0;

const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/stats") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ refreshes, duplicates, unknown, valid: valid.size }));
    return;
  }
  if (req.method === "POST" && req.url === "/seed") {
    // The benchmark registers the refresh tokens it stored, so the server knows them.
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      for (const t of JSON.parse(body) as string[]) valid.add(t);
      res.writeHead(204).end();
    });
    return;
  }
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const params = new URLSearchParams(body);
    const presented = params.get("refresh_token") ?? "";
    refreshes++;
    if (!valid.delete(presented)) {
      if (used.has(presented)) duplicates++;
      else unknown++;
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":"invalid_grant"}');
      return;
    }
    used.add(presented);
    const next = randomBytes(18).toString("base64url");
    valid.add(next);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ access_token: randomBytes(18).toString("base64url"), token_type: "bearer", expires_in: 3600, refresh_token: next }));
  });
});
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
