/**
 * Runs the committed reverse-proxy configurations (deploy/nginx/nexus.conf, deploy/caddy/Caddyfile) with
 * Debian's nginx and Caddy as child processes, each in a temporary folder of its own: the file as
 * committed, with only its ports and file paths replaced (every replaced string must occur, so the file
 * and the test cannot drift apart), in front of a Broker and a Gateway on the given ports.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { freePort } from "./free-port.ts";
import { type ProxyEndpoint, publicHost } from "./proxy-clients.ts";
import { until } from "./until.ts";

const root = new URL("../../", import.meta.url).pathname;
export const nginxBin = process.env.NEXUS_NGINX ?? "/usr/sbin/nginx";
export const caddyBin = process.env.NEXUS_CADDY ?? "/usr/bin/caddy";

/** Where the services listen. */
export interface Upstreams {
  readonly gatewayPort: number;
  readonly brokerPort: number;
}

/** A proxy serving the committed configuration. */
export interface RunningProxy {
  /** The public address: the Gateway, and the Broker's /auth routes. */
  readonly public: ProxyEndpoint;
  /** The private admin address: the Broker. */
  readonly admin: ProxyEndpoint;
  /** Plain HTTP, which only redirects. */
  readonly httpPort: number;
  /** What the configuration check printed (nginx -t, caddy validate). */
  readonly checked: string;
  close(): Promise<void>;
}

/** Replaces every occurrence of each `from`; fails when one does not occur at all. */
export function substitute(text: string, substitutions: readonly (readonly [string, string])[]): string {
  return substitutions.reduce((out, [from, to]) => {
    if (!out.includes(from)) throw new Error(`the configuration no longer contains "${from}": update the test with it`);
    return out.replaceAll(from, to);
  }, text);
}

function requireTool(bin: string, name: string): void {
  if (!existsSync(bin)) throw new Error(`${name} is missing at ${bin}: run scripts/ensure-deploy-tools.sh (make test does)`);
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync(bin, args, { encoding: "utf8", env, timeout: 20_000 });
  if (result.status !== 0) throw new Error(`${bin} ${args.join(" ")} failed (${result.status}):\n${result.stdout}${result.stderr}`);
  return `${result.stdout}${result.stderr}`;
}

/** Resolves once a TLS handshake for the public name succeeds against `ca`. */
function handshake(port: number, ca: string): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, servername: publicHost, ca }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(undefined));
  });
}

async function startChild(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; output: () => string }> {
  let output = "";
  const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return { child, output: () => output };
}

async function stop(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
}

/** Waits for the proxy's first TLS handshake; fails at once, with what it printed, when it exits instead. */
async function ready(name: string, port: number, ca: () => Promise<string>, child: ChildProcess, output: () => string): Promise<string> {
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`${name} exited (${code}):\n${output()}`))));
  exited.catch(() => {});
  const served = until(`${name} to serve TLS on port ${port}`, async () => {
    const pem = await ca();
    return (await handshake(port, pem)) ? pem : undefined;
  }, 20_000, 50).catch((error: unknown) => {
    throw new Error(`${String(error)}\n${output()}`);
  });
  served.catch(() => {});
  return Promise.race([served, exited]);
}

/** deploy/nginx/nexus.conf in a minimal nginx.conf of the test's, with a self-signed certificate for nexus.example.com. */
export async function startNginx(upstreams: Upstreams): Promise<RunningProxy> {
  requireTool(nginxBin, "nginx");
  const dir = await mkdtemp(join(tmpdir(), "nexus-nginx-"));
  // nginx's workers run as nobody when the test runs as root; they must reach the temporary files.
  await chmod(dir, 0o755);
  await mkdir(join(dir, "tls"));
  // certbot's webroot, with a challenge answer in it.
  await mkdir(join(dir, "webroot/.well-known/acme-challenge"), { recursive: true });
  await writeFile(join(dir, "webroot/.well-known/acme-challenge/token-1"), "token-1.thumbprint");
  run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", `/CN=${publicHost}`, "-addext", `subjectAltName=DNS:${publicHost}`,
    "-keyout", join(dir, "tls/privkey.pem"), "-out", join(dir, "tls/fullchain.pem")]);
  const [httpPort, publicPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const committed = await readFile(join(root, "deploy/nginx/nexus.conf"), "utf8");
  await writeFile(join(dir, "nexus.conf"), substitute(committed, [
    ["listen 80;", `listen 127.0.0.1:${httpPort};`],
    ["listen 443 ssl http2;", `listen 127.0.0.1:${publicPort} ssl http2;`],
    ["listen 8443 ssl http2;", `listen 127.0.0.1:${adminPort} ssl http2;`],
    ["server 127.0.0.1:8090;", `server 127.0.0.1:${upstreams.gatewayPort};`],
    ["server 127.0.0.1:8080;", `server 127.0.0.1:${upstreams.brokerPort};`],
    [`/etc/letsencrypt/live/${publicHost}/`, `${dir}/tls/`],
    ["/var/log/nginx/", `${dir}/`],
    ["root /var/www/html;", `root ${dir}/webroot;`],
  ]));
  await writeFile(join(dir, "nginx.conf"), [
    "daemon off;", "worker_processes 1;", `pid ${dir}/nginx.pid;`, "events { worker_connections 256; }",
    "http {", ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir}/${t}_temp;`),
    `  include ${dir}/nexus.conf;`, "}", "",
  ].join("\n"));
  const args = ["-p", `${dir}/`, "-c", join(dir, "nginx.conf"), "-e", "stderr"];
  const checked = run(nginxBin, ["-t", ...args]);
  const { child, output } = await startChild(nginxBin, args, process.env);
  const ca = await ready("nginx", publicPort, () => readFile(join(dir, "tls/fullchain.pem"), "utf8"), child, output);
  return {
    public: { baseUrl: `https://${publicHost}:${publicPort}`, ca },
    admin: { baseUrl: `https://${publicHost}:${adminPort}`, ca },
    httpPort,
    checked,
    close: () => stop(child, dir),
  };
}

/**
 * deploy/caddy/Caddyfile behind test-only global options: the test's ports, no admin endpoint, and
 * certificates from Caddy's own local CA (whose root the clients trust) instead of a public one.
 */
export async function startCaddy(upstreams: Upstreams): Promise<RunningProxy> {
  requireTool(caddyBin, "caddy");
  const dir = await mkdtemp(join(tmpdir(), "nexus-caddy-"));
  const [httpPort, publicPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const committed = await readFile(join(root, "deploy/caddy/Caddyfile"), "utf8");
  const globals = `{\n\tadmin off\n\thttp_port ${httpPort}\n\thttps_port ${publicPort}\n\tlocal_certs\n\tskip_install_trust\n}\n\n`;
  const caddyfile = join(dir, "Caddyfile");
  await writeFile(caddyfile, globals + substitute(committed, [
    [`${publicHost}:8443`, `${publicHost}:${adminPort}`],
    ["127.0.0.1:8080", `127.0.0.1:${upstreams.brokerPort}`],
    ["127.0.0.1:8090", `127.0.0.1:${upstreams.gatewayPort}`],
  ]));
  // Caddy keeps its CA, certificates and autosaved configuration under these.
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config") };
  const checked = run(caddyBin, ["validate", "--config", caddyfile, "--adapter", "caddyfile"], env);
  const { child, output } = await startChild(caddyBin, ["run", "--config", caddyfile, "--adapter", "caddyfile"], env);
  const ca = await ready("caddy", publicPort, () => readFile(join(dir, "data/caddy/pki/authorities/local/root.crt"), "utf8"), child, output);
  return {
    public: { baseUrl: `https://${publicHost}:${publicPort}`, ca },
    admin: { baseUrl: `https://${publicHost}:${adminPort}`, ca },
    httpPort,
    checked,
    close: () => stop(child, dir),
  };
}
