/**
 * deploy/systemd: the units run what `make build` produces, with an environment file whose example holds
 * every variable the service requires (blank only where a secret goes, and each documented), on the
 * ports the proxy configurations forward to; systemd itself accepts the units and rates their sandbox.
 * Nothing here runs systemd (containers have none): its offline checks do what they can.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
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
    const drain = loadBrokerConfig({ ...readEnvFile(join(dir, "broker.env.example")), ENCRYPTION_KEY: key(), STATE_KEY: key(), API_KEY: key() }).shutdownDrainSeconds;
    assert.ok(stopSeconds >= drain + 20, `TimeoutStopSec=${stopSeconds} leaves SHUTDOWN_DRAIN_SECONDS=${drain} and the audit flush room`);
  });

  const envFiles: [string, string, string[], (env: Record<string, string>) => unknown][] = [
    ["broker.env.example", "/etc/nexus/broker.env", ["ENCRYPTION_KEY", "STATE_KEY", "API_KEY"], loadBrokerConfig],
    ["gateway.env.example", "/etc/nexus/gateway.env", ["BROKER_API_KEY"], loadGatewayConfig],
  ];
  for (const [example, installed, secrets, load] of envFiles) {
    it(`${example}: blank only where a secret goes; filled in, the service's configuration loads; every variable documented`, () => {
      const env = readEnvFile(join(dir, example));
      assert.ok(readFileSync(join(dir, example), "utf8").startsWith(`# ${installed}:`), `${example} says where it goes`);
      const blanks = Object.keys(env).filter((k) => env[k] === "");
      assert.deepEqual(blanks, secrets);
      const problems = problemsOf(() => load(env));
      assert.equal(problems.length, secrets.length, problems.join("\n"));
      secrets.forEach((s, i) => assert.match(problems[i]!, new RegExp(`^${s} is not set`)));
      assert.deepEqual(problemsOf(() => load({ ...env, ...Object.fromEntries(secrets.map((s) => [s, key()])) })), []);
      const docs = readFileSync(join(root, "docs/configuration.md"), "utf8") + readFileSync(join(root, "docs/deploy.md"), "utf8");
      const commented = [...readFileSync(join(dir, example), "utf8").matchAll(/^# ([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
      for (const name of [...Object.keys(env), ...commented]) assert.ok(docs.includes(`\`${name}\``), `${name} is documented`);
      const units = readdirSync(dir).filter((f) => f.endsWith(".service"));
      assert.ok(units.some((u) => serviceSetting(readUnitFile(join(dir, u)), "EnvironmentFile").includes(installed)), `a unit reads ${installed}`);
    });
  }

  it("puts the services where the proxies forward to, on loopback, behind the public URL the proxies serve", () => {
    const broker = loadBrokerConfig({ ...readEnvFile(join(dir, "broker.env.example")), ENCRYPTION_KEY: key(), STATE_KEY: key(), API_KEY: key() });
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

  it("systemd rates every unit's sandbox at most 2.0 (\"OK\")", { skip: systemdVersion < 250 && "systemd-analyze security --offline needs systemd 250 or newer" }, () => {
    for (const name of units) {
      const result = spawnSync("systemd-analyze", ["security", "--offline=true", "--no-pager", join(dir, name)], { encoding: "utf8" });
      const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(result.stdout)?.[1]);
      assert.ok(exposure <= 2.0, `${name}: exposure ${exposure}\n${result.stdout}${result.stderr}`);
    }
  });
});
