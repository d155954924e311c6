import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { Registry } from "prom-client";
import { createStaticSite, type StaticFile, webAppContentSecurityPolicy } from "../../src/gateway/static-site.ts";
import { silentLogger } from "../../src/shared/logger.ts";
import { createHttpApp } from "../../src/shared/server/http-app.ts";

const text = (s: string) => new TextEncoder().encode(s);
const files = new Map<string, StaticFile>([
  ["index.html", { contentType: "text/html; charset=utf-8", body: text("<!doctype html><title>Nexus</title>") }],
  ["app.js", { contentType: "text/javascript; charset=utf-8", body: text("console.log(1)") }],
  ["config.json", { contentType: "application/json", body: text('{"agentKey":"k"}') }],
  ["img/logo.svg", { contentType: "image/svg+xml", body: text("<svg/>") }],
]);

function request(method: string, path: string): UniversalServerRequest {
  return { httpVersion: "1.1", method, url: `http://127.0.0.1:8090${path}`, header: new Headers(), body: (async function* () {})(), signal: new AbortController().signal };
}

async function bodyOf(response: UniversalServerResponse | undefined): Promise<string> {
  let out = "";
  for await (const chunk of response?.body ?? []) out += new TextDecoder().decode(chunk);
  return out;
}

describe("createStaticSite()", () => {
  const site = createStaticSite(files);
  const get = (path: string, method = "GET") => site(request(method, path), new URL(`http://127.0.0.1:8090${path}`));

  it("serves index.html at / with the strict policy and no caching", async () => {
    const res = await get("/");
    assert.equal(res?.status, 200);
    assert.equal(res.header?.get("content-type"), "text/html; charset=utf-8");
    assert.equal(res.header?.get("content-security-policy"), "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'");
    assert.equal(res.header?.get("content-security-policy"), webAppContentSecurityPolicy);
    assert.equal(res.header?.get("x-content-type-options"), "nosniff");
    assert.equal(res.header?.get("referrer-policy"), "no-referrer");
    assert.equal(res.header?.get("cache-control"), "no-cache");
    assert.equal(res.header?.get("content-length"), String(files.get("index.html")!.body.byteLength));
    assert.equal(await bodyOf(res), "<!doctype html><title>Nexus</title>");
    assert.equal((await get("/index.html"))?.status, 200);
  });

  it("serves each file with its content type; assets are cached briefly, config.json never", async () => {
    const js = await get("/app.js");
    assert.equal(js?.header?.get("content-type"), "text/javascript; charset=utf-8");
    assert.match(js?.header?.get("cache-control") ?? "", /^public, max-age=\d{2,4}$/);
    assert.equal(js?.header?.get("content-security-policy"), webAppContentSecurityPolicy);
    assert.equal(await bodyOf(js), "console.log(1)");
    assert.equal((await get("/config.json"))?.header?.get("cache-control"), "no-cache");
    assert.equal((await get("/img/logo.svg"))?.header?.get("content-type"), "image/svg+xml");
  });

  it("answers HEAD with the headers and no body", async () => {
    const res = await get("/app.js", "HEAD");
    assert.equal(res?.status, 200);
    assert.equal(res.header?.get("content-length"), "14");
    assert.equal(res.body, undefined);
  });

  it("passes (undefined) on unknown paths, other methods and undecodable paths", async () => {
    assert.equal(await get("/missing.js"), undefined);
    assert.equal(await get("/app.js/"), undefined);
    assert.equal(await get("/img/..%2findex.html"), undefined);
    assert.equal(await get("/%E0%A4%A"), undefined);
    assert.equal(await get("/", "POST"), undefined);
    assert.equal(await get("/app.js", "DELETE"), undefined);
  });

  it("falls through to the app's 404 behind createHttpApp, and routes still win", async () => {
    const app = createHttpApp({
      routes: () => {},
      interceptors: [],
      health: { check: async () => "SERVING" },
      registry: new Registry(),
      pages: site,
      logger: silentLogger,
    });
    const page = await app.handle(request("GET", "/"));
    assert.equal(page.status, 200);
    assert.equal(page.header?.get("content-security-policy"), webAppContentSecurityPolicy);
    const missing = await app.handle(request("GET", "/nope.html"));
    assert.equal(missing.status, 404);
    assert.equal(missing.header?.get("content-type"), "application/json");
    assert.match(await bodyOf(missing), /"code":"not_found"/);
    const health = await app.handle(request("GET", "/healthz"));
    assert.equal(health.status, 200);
    assert.match(await bodyOf(health), /SERVING/);
  });
});
