/**
 * The Node runtime's fetch checks every address at connect time with the
 * outbound policy (security.md "Outbound requests"). A fake resolver maps test
 * names to addresses, so no real DNS is asked; the only server is a stand-in
 * on 127.0.0.1 that counts every TCP connection it receives.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { NexusError } from "../../src/shared/errors.ts";
import { createGuardedFetch } from "../../src/runtime/node/guarded-fetch.ts";
import { createGuardedLookup, type Resolver } from "../../src/runtime/node/guarded-lookup.ts";

/** A resolver answering from a table, recording what it was asked. */
function fakeResolver(table: Record<string, string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (hostname: string) => {
    asked.push(hostname);
    const addresses = table[hostname];
    if (addresses === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(resolve, { asked });
}

/** Calls a lookup function the way `net` does, with `all: true`. */
function lookupAll(lookup: ReturnType<typeof createGuardedLookup>, hostname: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    lookup(hostname, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });
}

describe("createGuardedFetch() and createGuardedLookup()", () => {
  let server: Server;
  let port: number;
  let connections = 0;
  const requests: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url} ${req.headers["x-api-key"] ?? ""}`);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true }));
    });
    server.on("connection", () => void connections++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const expectRefused = async (promise: Promise<unknown>, pattern: RegExp) => {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof NexusError && error.reason === "invalid_argument", String(error));
      assert.match(error.message, pattern);
      return true;
    });
  };

  it("refuses a name that resolves to loopback at connect time: the server sees no connection, the key goes nowhere", async () => {
    const resolve = fakeResolver({ "api.test": ["127.0.0.1"] });
    const guarded = createGuardedFetch({ allowLoopback: false, resolve });
    const before = connections;
    await expectRefused(guarded.fetch(`http://api.test:${port}/me`, { headers: { "x-api-key": "CANARY_AK_dns" } }), /api\.test \(resolves to 127\.0\.0\.1\) refused: it is a loopback address/);
    assert.deepEqual(resolve.asked, ["api.test"], "the name was resolved through the injected resolver");
    assert.equal(connections, before, "a TCP connection was opened");
    assert.ok(!requests.some((r) => r.includes("CANARY_AK_dns")));
    guarded.close();
  });

  it("allows the same name resolving to loopback with the development flag, and sends the request", async () => {
    const guarded = createGuardedFetch({ allowLoopback: true, resolve: fakeResolver({ "api.test": ["127.0.0.1"] }) });
    const response = await guarded.fetch(`http://api.test:${port}/me`, { headers: { "x-api-key": "dev-key" } });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true });
    assert.ok(requests.includes("GET /me dev-key"));
    guarded.close();
  });

  it("refuses private and metadata answers even with the development flag", async () => {
    for (const [address, reason] of [["10.0.0.1", /private network/], ["169.254.169.254", /cloud metadata/], ["::ffff:127.0.0.1", /IPv6 form/], ["fd00:ec2::254", /cloud metadata/]] as const) {
      const guarded = createGuardedFetch({ allowLoopback: true, resolve: fakeResolver({ "api.test": [address] }) });
      await expectRefused(guarded.fetch(`http://api.test:${port}/me`), reason);
      guarded.close();
    }
  });

  it("refuses a name when any one of its answers is refused (no half-trusted names)", async () => {
    const guarded = createGuardedFetch({ allowLoopback: true, resolve: fakeResolver({ "api.test": ["127.0.0.1", "10.0.0.1"] }) });
    const before = connections;
    await expectRefused(guarded.fetch(`http://api.test:${port}/me`), /resolves to 10\.0\.0\.1/);
    assert.equal(connections, before);
    guarded.close();
  });

  it("checks IP literals, which never reach a resolver", async () => {
    const resolve = fakeResolver({});
    const guarded = createGuardedFetch({ allowLoopback: false, resolve });
    for (const url of [`http://127.0.0.1:${port}/`, `http://[::ffff:7f00:1]:${port}/`, "http://169.254.169.254/", "http://[fe80::1]/", "http://localhost/"]) {
      await expectRefused(guarded.fetch(url), /refused: it is/);
    }
    assert.deepEqual(resolve.asked, []);
    guarded.close();
  });

  it("lookup: a name resolving to a public address (simulated) is allowed, and answered in the shape net asks for", async () => {
    const lookup = createGuardedLookup({ allowLoopback: false }, fakeResolver({ "api.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] }));
    assert.deepEqual(await lookupAll(lookup, "api.test"), [
      { address: "93.184.216.34", family: 4 },
      { address: "2606:2800:220:1:248:1893:25c8:1946", family: 6 },
    ]);
    const single = await new Promise((resolve, reject) => {
      lookup("api.test", { family: 6 }, (error, address, family) => (error ? reject(error) : resolve([address, family])));
    });
    assert.deepEqual(single, ["2606:2800:220:1:248:1893:25c8:1946", 6]);
    await assert.rejects(lookupAll(lookup, "missing.test"), /ENOTFOUND/);
  });

  it("lookup: the same name resolving to loopback is refused without the flag", async () => {
    const lookup = createGuardedLookup({ allowLoopback: false }, fakeResolver({ "api.test": ["127.0.0.1"] }));
    await assert.rejects(lookupAll(lookup, "api.test"), /loopback address/);
  });

  it("behaves as fetch: posts bodies, returns 3xx without following, honours aborts", async () => {
    const guarded = createGuardedFetch({ allowLoopback: true });
    const posted = await guarded.fetch(`http://127.0.0.1:${port}/token`, { method: "POST", body: new URLSearchParams({ a: "1" }) });
    assert.equal(posted.status, 200);
    await posted.body?.cancel();
    const redirecting = createServer((_req, res) => {
      res.writeHead(302, { location: "http://169.254.169.254/" });
      res.end();
    });
    await new Promise<void>((resolve) => redirecting.listen(0, "127.0.0.1", resolve));
    try {
      const r = await guarded.fetch(`http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/`);
      assert.equal(r.status, 302);
      assert.equal(r.headers.get("location"), "http://169.254.169.254/");
    } finally {
      redirecting.closeAllConnections();
      await new Promise((resolve) => redirecting.close(resolve));
    }
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await assert.rejects(guarded.fetch(`http://127.0.0.1:${port}/`, { signal: controller.signal }), /stop/);
    guarded.close();
  });

  it("an abort after the headers also ends the body read (a provider that trickles cannot hold a request open)", async () => {
    const trickle = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write("{");
    });
    await new Promise<void>((resolve) => trickle.listen(0, "127.0.0.1", resolve));
    const guarded = createGuardedFetch({ allowLoopback: true });
    try {
      const controller = new AbortController();
      const response = await guarded.fetch(`http://127.0.0.1:${(trickle.address() as AddressInfo).port}/`, { signal: controller.signal });
      const reading = response.text();
      controller.abort(new Error("deadline"));
      await assert.rejects(reading);
    } finally {
      guarded.close();
      trickle.closeAllConnections();
      await new Promise((resolve) => trickle.close(resolve));
    }
  });
});
