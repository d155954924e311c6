/**
 * Builds the Nexus web app (src/web-app) into a folder of static files:
 * app.js (one esbuild bundle), index.html, styles.css, and config.json when
 * a configuration is given. The Gateway serves that folder when
 * GATEWAY_WEB_APP_DIR names it; any other web server can too, as long as it
 * sends the app to the Gateway's origin (the app calls its own origin).
 *
 *   npx tsx src/runtime/node/build-web-app.ts <outDir>   (make web)
 */
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const source = fileURLToPath(new URL("../../web-app/", import.meta.url));

/** Options of {@linkcode buildWebApp}. */
export interface BuildWebAppOptions {
  /**
   * Written as config.json, read by the app at start. Development only: an
   * `agentKey` here is handed to every visitor of the page.
   */
  readonly config?: Record<string, unknown>;
}

/** Bundles and copies the web app into `outDir` (created when missing). */
export async function buildWebApp(outDir: string, options: BuildWebAppOptions = {}): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(source, "main.ts")],
    outfile: join(outDir, "app.js"),
    bundle: true,
    platform: "browser",
    format: "esm",
    minify: true,
    target: "es2020",
    sourcemap: false,
    // Licence comments go to the end of the bundle, not into a separate file the CSP-served folder would lack.
    legalComments: "eof",
    logLevel: "silent",
  });
  await copyFile(join(source, "index.html"), join(outDir, "index.html"));
  await copyFile(join(source, "styles.css"), join(outDir, "styles.css"));
  const config = join(outDir, "config.json");
  if (options.config !== undefined) {
    await writeFile(config, `${JSON.stringify(options.config, null, 2)}\n`, { mode: 0o600 });
  } else {
    // A build for production into a folder a development build used must not keep its agent key.
    await rm(config, { force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const outDir = process.argv[2];
  if (outDir === undefined) {
    process.stderr.write("usage: npx tsx src/runtime/node/build-web-app.ts <outDir>\n");
    process.exit(2);
  }
  await buildWebApp(resolve(outDir));
  process.stderr.write(`Web app built into ${resolve(outDir)}. Serve it with GATEWAY_WEB_APP_DIR=${resolve(outDir)}.\n`);
}
