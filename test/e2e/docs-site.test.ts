/**
 * The documentation site as `make docs-site` built it (make test builds it
 * first; this test fails while the build is older than its sources): no
 * warning in the build, no broken link or anchor in the HTML, every page in
 * the navigation, every block marked runnable run by a test. Then in Debian's
 * Chromium at desktop width and at 390 px: the navigation reaches every
 * zone, search finds a page, and "Copy as Markdown" puts the page's source
 * on the clipboard, over plain http on a host name that is no secure context
 * (the fallback) and on 127.0.0.1, which is one (the Clipboard API).
 * Screenshots of each step go to test-output/docs-site/.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { navigatedFiles, navLink, pageTitle, zones } from "../../site/navigation.ts";
import { linkedSourceFiles, sitePageFiles, sitePath, siteVersion, sourceViewPath } from "../../site/site-pages.ts";
import { buildRecord, type SiteBuild, staleSiteInputs } from "../../scripts/build-docs-site.ts";
import { brokenLinks, builtFile, htmlFiles } from "../support/built-site.ts";
import { serveStatic, type StaticServer } from "../support/static-server.ts";

const root = new URL("../../", import.meta.url).pathname;
const shots = join(root, "test-output/docs-site");
// A name that is not localhost: Chromium treats the page as no secure context, as a preview on a LAN host is.
const plainHost = "nexus-docs.test";

describe("the documentation site", () => {
  // make test runs make docs-site first, which builds .nexus/site and records the build (scripts/build-docs-site.ts).
  const out = join(root, ".nexus/site");
  const record = (): SiteBuild => {
    assert.ok(existsSync(join(root, buildRecord)), `${buildRecord} is missing: run make docs-site`);
    return JSON.parse(readFileSync(join(root, buildRecord), "utf8")) as SiteBuild;
  };

  it("is built from the pages as they are now", () => {
    assert.deepEqual(staleSiteInputs(record()), [], "the site was built before these changed: run make docs-site");
  });

  it("builds with no warning", () => {
    const log = record().log.replace(/\x1b\[[0-9;]*m/g, "");
    const noise = log.split("\n").filter((l) => /warn|\(!\)|deprecat|error|fail|dead link|not loaded/i.test(l));
    assert.deepEqual(noise, [], log);
    assert.match(log, /build complete/);
  });

  it("has no broken internal link or anchor", () => {
    assert.ok(htmlFiles(out).length > sitePageFiles().length, "the site was built");
    assert.deepEqual(brokenLinks(out), []);
  });

  it("lists every page in the navigation, and builds nothing else but source views", () => {
    const navigated = navigatedFiles();
    assert.deepEqual(sitePageFiles().filter((f) => !navigated.has(f)), [], "pages in no zone of site/navigation.ts");
    assert.deepEqual([...navigated].filter((f) => !sitePageFiles().includes(f)), [], "navigation entries with no page");
    const expected = new Set([...sitePageFiles().map((f) => builtFile(sitePath(f))), ...linkedSourceFiles().map((f) => builtFile(sourceViewPath(f))), "404.html"]);
    assert.deepEqual(htmlFiles(out).filter((f) => !expected.has(f)), [], "built pages that are not pages of the site");
    // The sidebar every page carries links each page, whatever its zone.
    const home = readFileSync(join(out, "index.html"), "utf8");
    const sidebar = home.slice(home.indexOf('class="VPSidebar'), home.indexOf('class="VPContent'));
    // A folder's README is its index: linked as the folder (".../"), every other page with ".html".
    for (const file of navigated) assert.ok(sidebar.includes(`href="${navLink(file)}${navLink(file).endsWith("/") ? "" : ".html"}"`), `the sidebar links ${file}`);
  });

  it("shows VERSION in the version chip", () => {
    assert.match(readFileSync(join(out, "index.html"), "utf8"), new RegExp(`class="nx-version"[^>]*>v${siteVersion().replace(/\./g, "\\.")}<`));
  });

  it("runs every code block marked as runnable in a test", () => {
    const tests = testSources();
    for (const file of sitePageFiles()) {
      const text = readFileSync(join(root, file), "utf8");
      for (const m of text.matchAll(/<!-- (docs-test|readme-test): ([\w-]+) -->\n(\s*)(.*)/g)) {
        assert.match(m[4]!, /^```\w+/, `${file}: the ${m[1]} marker ${m[2]} is followed by a fenced block with its language`);
        const runs = (t: string) => (t.includes(`"${m[2]}"`) || t.includes(`'${m[2]}'`)) && /docsBlock|readmeBlock|docs_block/.test(t);
        assert.ok(tests.some(runs), `${file}: no test runs the block marked ${m[2]}`);
      }
    }
  });

  describe("in Chromium", () => {
    let server: StaticServer;
    let browser: Browser;
    before(async () => {
      mkdirSync(shots, { recursive: true });
      server = await serveStatic(out);
      browser = await chromium.launch({
        executablePath: process.env.NEXUS_CHROMIUM ?? "/usr/bin/chromium", headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync",
          `--host-resolver-rules=MAP ${plainHost} 127.0.0.1`],
      });
    });
    after(async () => {
      await browser?.close();
      await server?.close();
    });

    for (const view of [{ name: "desktop", width: 1280, height: 800 }, { name: "phone", width: 390, height: 844 }]) {
      const phone = view.width < 768;
      const open = async (path: string, host = "127.0.0.1"): Promise<{ context: BrowserContext; page: Page }> => {
        const context = await browser.newContext({ viewport: { width: view.width, height: view.height }, isMobile: phone, hasTouch: phone });
        const page = await context.newPage();
        await page.goto(`http://${host}:${server.port}${path}`);
        await page.waitForSelector(".VPContent h1");
        return { context, page };
      };
      // The router changes the URL before it renders the page: wait for the page's own heading.
      const heading = async (page: Page, expected: string) => {
        await page.locator(".VPContent h1", { hasText: exactly(expected) }).waitFor({ timeout: 15_000 });
        assert.equal(await page.$eval(".VPContent h1", (h) => (h.textContent ?? "").replace(/\u200b/g, "").trim()), expected);
      };

      it(`${view.name}: the navigation reaches every zone, through the top bar and the sidebar`, async () => {
        const { context, page } = await open("/");
        try {
          assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), view.width, "no sideways scrolling");
          for (const zone of zones()) {
            if (phone) await page.click(".VPNavBarHamburger");
            await page.locator(phone ? ".VPNavScreen a" : ".VPNavBarMenu a", { hasText: exactly(zone.text) }).click();
            await page.waitForURL(`**${navLink(zone.landing)}.html`);
            await heading(page, pageTitle(zone.landing));
            // The sidebar lists the zone; its last page is one click away.
            if (phone) await page.click(".VPLocalNav button.menu");
            const group = page.locator(".VPSidebar .VPSidebarItem.level-0", { has: page.locator("h2", { hasText: exactly(zone.text) }) });
            await group.waitFor({ state: "visible" });
            // On a phone the sidebar slides in: the screenshot waits until it is all in view.
            await page.waitForFunction(() => (document.querySelector(".VPSidebar")?.getBoundingClientRect().left ?? -1) >= 0);
            const last = zone.items.at(-1)!;
            const lastFile = "pages" in last ? last.index.file : last.file;
            await page.screenshot({ path: join(shots, `${view.name}-${zone.text.toLowerCase().replace(/ /g, "-")}.png`) });
            await group.locator(`a[href="${navLink(lastFile).replace(/#.*/, "")}.html${lastFile.includes("#") ? `#${lastFile.split("#")[1]}` : ""}"]`).first().click();
            await page.waitForURL(`**${navLink(lastFile).replace(/#.*/, "")}.html**`);
            await heading(page, pageTitle(lastFile.split("#")[0]!));
          }
        } finally {
          await context.close();
        }
      });

      it(`${view.name}: search finds a known page`, async () => {
        const { context, page } = await open("/quickstart.html");
        try {
          await page.click("#local-search button");
          await page.fill("#localsearch-input", "certbot");
          const result = page.locator(".VPLocalSearchBox a.result").first();
          await result.waitFor();
          assert.match((await result.getAttribute("href")) ?? "", /\/deploy\.html#/);
          await page.screenshot({ path: join(shots, `${view.name}-search.png`) });
          await result.click();
          await page.waitForURL("**/deploy.html**");
          await heading(page, "Deploying Nexus");
        } finally {
          await context.close();
        }
      });

      it(`${view.name}: Copy as Markdown puts the page's Markdown on the clipboard, in no secure context and in one`, async () => {
        const source = phone ? "docs/how-nexus-works.md" : "docs/quickstart.md";
        const path = `${navLink(source)}.html`;
        for (const host of [plainHost, "127.0.0.1"]) {
          const { context, page } = await open(path, host);
          try {
            const secure = host === "127.0.0.1";
            await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: `http://127.0.0.1:${server.port}` });
            assert.deepEqual(await page.evaluate(() => [window.isSecureContext, navigator.clipboard !== undefined]), [secure, secure]);
            // Count the fallback's execCommand("copy"): used without a secure context, not with one.
            await page.evaluate(() => {
              const original = document.execCommand.bind(document);
              (window as unknown as { copies: number }).copies = 0;
              document.execCommand = (command: string, ...rest: [boolean?, string?]) => {
                if (command === "copy") (window as unknown as { copies: number }).copies++;
                return original(command, ...rest);
              };
            });
            await page.click(".nx-copy-markdown");
            await page.waitForSelector('.nx-copy-markdown[data-state="copied"]');
            assert.equal(await page.evaluate(() => (window as unknown as { copies: number }).copies), secure ? 0 : 1);
            await page.screenshot({ path: join(shots, `${view.name}-copy-${secure ? "secure" : "plain-http"}.png`) });
            // Read the clipboard back from a page where the Clipboard API may read it.
            const reader = await context.newPage();
            await reader.goto(`http://127.0.0.1:${server.port}/404.html`);
            await reader.bringToFront();
            assert.equal(await reader.evaluate(() => navigator.clipboard.readText()), readFileSync(join(root, source), "utf8"));
          } finally {
            await context.close();
          }
        }
      });
    }
  });
});

/** A text match for exactly `text` (a heading's permalink adds a zero-width space). */
function exactly(text: string): RegExp {
  return new RegExp(`^[\\s\u200b]*${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[\\s\u200b]*$`);
}

/** The test files' sources (test/ and the Python SDK's tests), to find the names of the blocks they run. */
function testSources(): string[] {
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : /\.(ts|py)$/.test(path) ? [path] : [];
  });
  return [...walk(join(root, "test")), ...walk(join(root, "sdk/python/tests"))].map((f) => readFileSync(f, "utf8"));
}
