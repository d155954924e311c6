import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { loadBrokerConfig } from "../../src/broker/config.ts";
import { loadGatewayConfig } from "../../src/gateway/config.ts";
import { ConfigError } from "../../src/shared/config-reader.ts";

const key = () => randomBytes(32).toString("base64");
const validBroker = () => ({
  DATABASE_URL: "postgres://u:p@localhost:5432/nexus",
  ENCRYPTION_KEY: key(),
  STATE_KEY: key(),
  API_KEY: "an-admin-key-of-enough-length",
  BASE_URL: "https://nexus.example.com/",
  ALLOWED_RETURN_DOMAINS: "app.example.com, *.example.org",
});

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail("expected a ConfigError");
}

describe("loadBrokerConfig()", () => {
  it("reads a valid environment with the documented defaults", () => {
    const c = loadBrokerConfig(validBroker());
    assert.equal(c.port, 8080);
    assert.equal(c.redirectUri, "https://nexus.example.com/auth/callback");
    assert.deepEqual(c.allowedReturnDomains, ["app.example.com", "*.example.org"]);
    assert.equal(c.refreshMarginSeconds, 300);
    assert.equal(c.refreshConcurrency, 8);
    assert.equal(c.refreshGiveUpDays, 4);
    assert.equal(c.auditRetentionDays, 90);
    assert.equal(c.auditQueueMaxEvents, 100_000);
    assert.equal(c.activeKeyId, "primary");
    assert.equal(c.encryptionKeys.get("primary")?.length, 32);
    assert.equal(c.logLevel, "info");
    assert.ok(Object.isFrozen(c));
  });

  it("reports all three problems of an environment with three problems, each with a fix", () => {
    const env = { ...validBroker(), DATABASE_URL: "", STATE_KEY: "not-base64!", BROKER_PORT: "eighty" };
    const problems = problemsOf(() => loadBrokerConfig(env));
    assert.equal(problems.length, 3, problems.join("\n"));
    assert.match(problems.join("\n"), /DATABASE_URL is not set\. Set it to a PostgreSQL URL/);
    assert.match(problems.join("\n"), /STATE_KEY is not valid standard base64.*openssl rand -base64 32/);
    assert.match(problems.join("\n"), /BROKER_PORT must be a whole number from 0 to 65535, got "eighty"/);
  });

  it("bounds AUDIT_QUEUE_MAX_EVENTS to at least one write batch", () => {
    assert.equal(loadBrokerConfig({ ...validBroker(), AUDIT_QUEUE_MAX_EVENTS: "5000" }).auditQueueMaxEvents, 5000);
    for (const value of ["999", "lots", "-1"]) {
      const problems = problemsOf(() => loadBrokerConfig({ ...validBroker(), AUDIT_QUEUE_MAX_EVENTS: value }));
      assert.deepEqual(problems, [`AUDIT_QUEUE_MAX_EVENTS must be a whole number from 1000 to 10000000, got "${value}".`]);
    }
  });

  it("leaves /metrics public on the main port by default; METRICS_REQUIRE_API_KEY and METRICS_PORT protect it", () => {
    const c = loadBrokerConfig(validBroker());
    assert.deepEqual([c.metricsRequireApiKey, c.metricsPort], [false, 0]);
    const p = loadBrokerConfig({ ...validBroker(), METRICS_REQUIRE_API_KEY: "true", METRICS_PORT: "9464" });
    assert.deepEqual([p.metricsRequireApiKey, p.metricsPort], [true, 9464]);
    assert.deepEqual(problemsOf(() => loadBrokerConfig({ ...validBroker(), BROKER_PORT: "9464", METRICS_PORT: "9464" })),
      ["METRICS_PORT must differ from BROKER_PORT (or be 0 to serve metrics on BROKER_PORT)."]);
    assert.match(problemsOf(() => loadBrokerConfig({ ...validBroker(), METRICS_REQUIRE_API_KEY: "sometimes" })).join("\n"), /METRICS_REQUIRE_API_KEY must be true or false/);
  });

  it("reports every missing variable of an empty environment at once", () => {
    const problems = problemsOf(() => loadBrokerConfig({}));
    for (const name of ["DATABASE_URL", "ENCRYPTION_KEY", "STATE_KEY", "API_KEY", "BASE_URL", "ALLOWED_RETURN_DOMAINS"]) {
      assert.ok(problems.some((p) => p.startsWith(`${name} is not set`)), `no problem for ${name}: ${problems.join(" | ")}`);
    }
  });

  it("accepts only strict, padded, standard base64 of exactly 32 bytes", () => {
    const raw = randomBytes(32);
    const cases: [string, RegExp | undefined][] = [
      [raw.toString("base64"), undefined],
      [raw.toString("base64url"), /not valid standard base64/],
      [raw.toString("base64").replace(/=$/, ""), /not valid standard base64/],
      [randomBytes(31).toString("base64"), /decodes to 31 bytes; expected exactly 32/],
      [randomBytes(33).toString("base64"), /decodes to 33 bytes; expected exactly 32/],
      [randomBytes(16).toString("base64"), /decodes to 16 bytes/],
      [` ${raw.toString("base64")}\n`, undefined],
      ["@@@@", /not valid standard base64/],
    ];
    for (const [value, expected] of cases) {
      const env = { ...validBroker(), ENCRYPTION_KEY: value };
      if (expected === undefined) assert.doesNotThrow(() => loadBrokerConfig(env), value);
      else assert.match(problemsOf(() => loadBrokerConfig(env)).join("\n"), expected, value);
    }
  });

  it("reads a key ring for rotation and checks the active key is in it", () => {
    const base = { ...validBroker(), ENCRYPTION_KEY: "" };
    const c = loadBrokerConfig({ ...base, ENCRYPTION_KEYS: `old:${key()},new:${key()}`, ENCRYPTION_ACTIVE_KEY: "new" });
    assert.deepEqual([...c.encryptionKeys.keys()], ["old", "new"]);
    assert.equal(c.activeKeyId, "new");
    assert.match(problemsOf(() => loadBrokerConfig({ ...base, ENCRYPTION_KEYS: `old:${key()},new:${key()}` })).join(), /ENCRYPTION_ACTIVE_KEY is not set/);
    assert.match(problemsOf(() => loadBrokerConfig({ ...base, ENCRYPTION_KEYS: `old:${key()}`, ENCRYPTION_ACTIVE_KEY: "gone" })).join(), /names "gone", which is not in ENCRYPTION_KEYS/);
    assert.match(problemsOf(() => loadBrokerConfig({ ...validBroker(), ENCRYPTION_KEYS: `k:${key()}` })).join(), /not both/);
    assert.match(problemsOf(() => loadBrokerConfig({ ...base, ENCRYPTION_KEYS: `a.b:${key()}` })).join(), /kid of letters/);
  });

  it("never echoes a key value in a problem", () => {
    const secret = `${randomBytes(31).toString("base64")}`;
    const problems = problemsOf(() => loadBrokerConfig({ ...validBroker(), STATE_KEY: secret }));
    assert.ok(!problems.join("\n").includes(secret));
  });
});

describe("loadGatewayConfig()", () => {
  it("reads defaults and reports every problem at once", () => {
    const c = loadGatewayConfig({ BROKER_API_KEY: "k".repeat(20), AGENT_API_KEYS: `${"a".repeat(20)},${"b".repeat(20)}` });
    assert.equal(c.port, 8090);
    assert.equal(c.brokerUrl.href, "http://127.0.0.1:8080/");
    assert.equal(c.agentApiKeys.length, 2);
    const problems = problemsOf(() => loadGatewayConfig({ BROKER_URL: "ftp://x", CORS_ALLOWED_ORIGINS: "https://ok.example.com,not an origin" }));
    assert.equal(problems.length, 4, problems.join("\n"));
  });
});
