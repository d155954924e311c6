/**
 * deploy/systemd: the units run what `make build` produces, with an environment file whose example holds
 * every variable the service requires (blank only where a secret goes, and each documented), on the
 * ports the proxy configurations forward to; systemd itself accepts the units and rates their sandbox.
 * Nothing here runs systemd (containers have none): its offline checks do what they can.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { defaultOutDir, entries } from "../../scripts/build-services.ts";
import { loadBrokerConfig } from "../../src/broker/config.ts";
import { loadGatewayConfig } from "../../src/gateway/config.ts";
import { ConfigError } from "../../src/shared/config-reader.ts";
import { readEnvFile } from "../support/env-file.ts";
import { readUnitFile, serviceSetting } from "../support/systemd-unit.ts";

const root = new URL("../../", import.meta.url).pathname;
const dir = join(root, "deploy/systemd");
const units = readdirSync(dir).filter((f) => f.endsWith(".service")).sort();
const install = "/opt/nexus";
const key = () => randomBytes(32).toString("base64");
const brokerKeys = () => ({ ENCRYPTION_KEY: key(), STATE_KEY: key(), API_KEY: key() });

function problemsOf(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
const systemdVersion = analyze.status === 0 ? Number(/systemd (\d+)/.exec(analyze.stdout)?.[1] ?? 0) : 0;

describe("deploy/systemd", () => {
  it("has a unit for each service, and each runs a bundle `make build` writes, from the checkout it names", () => {
    assert.deepEqual(units, ["nexus-broker.service", "nexus-gateway.service", "nexus-rewrap.service"]);
    const makefile = readFileSync(join(root, "Makefile"), "utf8");
    assert.match(makefile, /^build: .*\n\t\$\(NPX\) tsx scripts\/build-services\.ts\n/m, "make build writes to the default folder");
    const buildDir = relative(root, defaultOutDir);
    const run = new Set<string>();
    for (const name of units) {
      const unit = readUnitFile(join(dir, name));
      assert.deepEqual(serviceSetting(unit, "WorkingDirectory"), [install], name);
      for (const command of [...serviceSetting(unit, "ExecStartPre"), ...serviceSetting(unit, "ExecStart")]) {
        const m = new RegExp(`^/usr/bin/node ${install}/${buildDir}/([a-z]+)\\.mjs$`).exec(command);
        assert.ok(m !== null, `${name}: ${command} runs a bundle from ${install}/${buildDir}`);
        assert.ok((entries as readonly string[]).includes(m[1]!), `${name}: ${m[1]} is built by make build`);
        run.add(m[1]!);
      }
      assert.equal(serviceSetting(unit, "ExecStart").length, 1, name);
      assert.ok(!serviceSetting(unit, "MemoryDenyWriteExecute").includes("yes"), `${name}: V8's JIT needs writable executable memory`);
    }
    assert.deepEqual([...run].sort(), [...entries].sort(), "every bundle is run by a unit");
    assert.deepEqual(serviceSetting(readUnitFile(join(dir, "nexus-broker.service")), "ExecStartPre"),
      [`/usr/bin/node ${install}/${buildDir}/migrate.mjs`], "the Broker migrates before it starts");
  });

  it("gives the Broker time to drain before systemd kills it", () => {
    const stopSeconds = Number(serviceSetting(readUnitFile(join(dir, "nexus-broker.service")), "TimeoutStopSec")[0]);
    const drain = loadBrokerConfig({ ...readEnvFile(join(dir, "broker.env.example")), ...brokerKeys() }).shutdownDrainSeconds;
    assert.ok(stopSeconds >= drain + 20, `TimeoutStopSec=${stopSeconds} leaves SHUTDOWN_DRAIN_SECONDS=${drain} and the audit flush room`);
  });

  const envFiles: [string, string, string[], (env: Record<string, string>) => unknown][] = [
    ["broker", "nexus-broker.service", ["ENCRYPTION_KEY", "STATE_KEY", "API_KEY"], loadBrokerConfig],
    ["gateway", "nexus-gateway.service", ["BROKER_API_KEY"], loadGatewayConfig],
  ];
  for (const [service, unit, secrets, load] of envFiles) {
    it(`${service}.env.example: everything the ${service} requires but its keys, each variable documented, both files read by ${unit}`, () => {
      const example = join(dir, `${service}.env.example`);
      assert.ok(readFileSync(example, "utf8").startsWith(`# /etc/nexus/${service}.env:`), "it says where it goes");
      const problems = problemsOf(() => load(readEnvFile(example)));
      assert.equal(problems.length, secrets.length, problems.join("\n"));
      secrets.forEach((s, i) => assert.match(problems[i]!, new RegExp(`^${s} is not set`)));
      const docs = readFileSync(join(root, "docs/configuration.md"), "utf8") + readFileSync(join(root, "docs/deploy.md"), "utf8");
      const commented = [...readFileSync(example, "utf8").matchAll(/^# ([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
      for (const name of [...Object.keys(readEnvFile(example)), ...commented]) assert.ok(docs.includes(`\`${name}\``), `${name} is documented`);
      assert.deepEqual(serviceSetting(readUnitFile(join(dir, unit)), "EnvironmentFile"),
        [`/etc/nexus/${service}.env`, `/etc/nexus/${service}-keys.env`]);
    });
  }

  it("the commands docs/deploy.md gives make key files that complete the examples, root's alone, the Gateway's key the Broker's", () => {
    const doc = readFileSync(join(root, "docs/deploy.md"), "utf8");
    const block = /<!-- deploy-test: key-files -->\n```sh\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(block !== undefined, "docs/deploy.md has the key-files block");
    const tmp = mkdtempSync(join(tmpdir(), "nexus-keys-"));
    try {
      const etc = join(tmp, "etc-nexus");
      // As root, with /etc/nexus moved into a temporary folder: the commands themselves, as written.
      const script = block.replaceAll("sudo ", "").replaceAll("/etc/nexus", etc);
      const run = spawnSync("bash", ["-euo", "pipefail", "-c", script], { cwd: root, encoding: "utf8" });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(statSync(etc).mode & 0o777, 0o700);
      const broker = { ...readEnvFile(join(etc, "broker.env")), ...readEnvFile(join(etc, "broker-keys.env")) };
      const gateway = { ...readEnvFile(join(etc, "gateway.env")), ...readEnvFile(join(etc, "gateway-keys.env")) };
      for (const file of ["broker.env", "gateway.env", "broker-keys.env", "gateway-keys.env"]) {
        assert.equal(statSync(join(etc, file)).mode & 0o777, 0o600, file);
      }
      assert.deepEqual(problemsOf(() => loadBrokerConfig(broker)), []);
      assert.deepEqual(problemsOf(() => loadGatewayConfig(gateway)), []);
      assert.equal(gateway.BROKER_API_KEY, broker.API_KEY);
      assert.equal(new Set([broker.ENCRYPTION_KEY, broker.STATE_KEY, broker.API_KEY]).size, 3, "a fresh key each");
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("puts the services where the proxies forward to, on loopback, behind the public URL the proxies serve", () => {
    const broker = loadBrokerConfig({ ...readEnvFile(join(dir, "broker.env.example")), ...brokerKeys() });
    const gateway = loadGatewayConfig({ ...readEnvFile(join(dir, "gateway.env.example")), BROKER_API_KEY: key() });
    assert.equal(broker.host, "127.0.0.1");
    assert.equal(gateway.host, "127.0.0.1");
    assert.equal(gateway.brokerUrl.href, `http://127.0.0.1:${broker.port}/`);
    assert.equal(broker.redirectUri, "https://nexus.example.com/auth/callback");
    assert.equal(gateway.publicUrl, broker.baseUrl.href.replace(/\/$/, ""), "one public address for both");
    const nginx = readFileSync(join(root, "deploy/nginx/nexus.conf"), "utf8");
    const caddy = readFileSync(join(root, "deploy/caddy/Caddyfile"), "utf8");
    for (const port of [broker.port, gateway.port]) {
      assert.match(nginx, new RegExp(`^\\s+server 127\\.0\\.0\\.1:${port};$`, "m"));
      assert.match(caddy, new RegExp(`^\\s+reverse_proxy 127\\.0\\.0\\.1:${port} \\{$`, "m"));
    }
    for (const config of [nginx, caddy]) assert.ok(config.includes(broker.baseUrl.host), "the proxies serve BASE_URL's host");
  });

  it("systemd-analyze verify accepts every unit without a warning", { skip: systemdVersion === 0 && "systemd-analyze is not installed" }, () => {
    const tmp = mkdtempSync(join(tmpdir(), "nexus-units-"));
    try {
      for (const name of units) {
        // The units name Debian's /usr/bin/node; verify checks that the program exists, so give it this Node.
        writeFileSync(join(tmp, name), readFileSync(join(dir, name), "utf8").replaceAll("/usr/bin/node ", `${process.execPath} `));
        const result = spawnSync("systemd-analyze", ["verify", join(tmp, name)], { encoding: "utf8" });
        assert.equal(result.status, 0, `${name}: ${result.stderr}`);
        assert.equal(`${result.stdout}${result.stderr}`.trim(), "", `${name}: systemd warns`);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  const offline = systemdVersion < 250 && "systemd-analyze security --offline needs systemd 250 or newer";
  it("systemd rates every unit's sandbox at most 2.0 (\"OK\")", { skip: offline }, () => {
    for (const name of units) {
      const result = spawnSync("systemd-analyze", ["security", "--offline=true", "--no-pager", join(dir, name)], { encoding: "utf8" });
      const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(result.stdout)?.[1]);
      assert.ok(exposure <= 2.0, `${name}: exposure ${exposure}\n${result.stdout}${result.stderr}`);
    }
  });
});
