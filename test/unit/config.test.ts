import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { loadBrokerConfig } from "../../src/broker/config.ts";
import { loadGatewayConfig } from "../../src/gateway/config.ts";
import { ConfigError } from "../../src/shared/config-reader.ts";
import { defaultMaxConnections, serverLimitDefaults } from "../../src/shared/server-limits.ts";

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
    assert.equal(c.publicUrl, "http://localhost:8090", "GATEWAY_PUBLIC_URL defaults to localhost on GATEWAY_PORT");
    // AGENT_API_KEYS is optional now (registered agents need no Gateway configuration), but a short key is refused.
    assert.deepEqual(loadGatewayConfig({ BROKER_API_KEY: "k".repeat(20) }).agentApiKeys, []);
    const problems = problemsOf(() => loadGatewayConfig({ BROKER_URL: "ftp://x", CORS_ALLOWED_ORIGINS: "https://ok.example.com,not an origin", AGENT_API_KEYS: "short" }));
    assert.equal(problems.length, 4, problems.join("\n"));
    assert.equal(loadGatewayConfig({ BROKER_API_KEY: "k".repeat(20), GATEWAY_PUBLIC_URL: "https://agents.example.com/" }).publicUrl, "https://agents.example.com");
  });
});

describe("readServerLimits(), through both loaders", () => {
  const validGateway = () => ({ BROKER_API_KEY: "k".repeat(20), AGENT_API_KEYS: "a".repeat(20) });
  const loaders: [string, (env: Record<string, string>) => { serverLimits: unknown }, () => Record<string, string>][] = [
    ["loadBrokerConfig", loadBrokerConfig, validBroker],
    ["loadGatewayConfig", loadGatewayConfig, validGateway],
  ];

  for (const [name, load, valid] of loaders) {
    it(`${name}() applies the documented defaults, the connection cap left to the open-file limit`, () => {
      assert.deepEqual(load(valid()).serverLimits, { ...serverLimitDefaults, maxConnections: undefined });
      assert.deepEqual(serverLimitDefaults, {
        handshakeTimeoutMs: 10_000, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000,
        http2IdleTimeoutMs: 60_000, http2MaxConcurrentStreams: 100, http2MaxSessionMemoryMb: 10, maxConcurrentRequests: 10_000,
      });
    });

    it(`${name}() reads every SERVER_* and HTTP2_* variable`, () => {
      const limits = load({
        ...valid(), SERVER_HANDSHAKE_TIMEOUT_MS: "1000", SERVER_HEADERS_TIMEOUT_MS: "2000", SERVER_REQUEST_TIMEOUT_MS: "3000",
        SERVER_KEEP_ALIVE_TIMEOUT_MS: "4000", SERVER_MAX_CONNECTIONS: "500", HTTP2_IDLE_TIMEOUT_MS: "6000",
        HTTP2_MAX_CONCURRENT_STREAMS: "7", HTTP2_MAX_SESSION_MEMORY_MB: "8", SERVER_MAX_CONCURRENT_REQUESTS: "9",
      }).serverLimits;
      assert.deepEqual(limits, {
        handshakeTimeoutMs: 1000, headersTimeoutMs: 2000, requestTimeoutMs: 3000, keepAliveTimeoutMs: 4000,
        maxConnections: 500, http2IdleTimeoutMs: 6000, http2MaxConcurrentStreams: 7, http2MaxSessionMemoryMb: 8,
        maxConcurrentRequests: 9,
      });
    });

    it(`${name}() reports every bad limit at once, and headers that outlast the request`, () => {
      const problems = problemsOf(() => load({
        ...valid(), SERVER_HANDSHAKE_TIMEOUT_MS: "0", SERVER_KEEP_ALIVE_TIMEOUT_MS: "soon", SERVER_MAX_CONNECTIONS: "-1",
        HTTP2_MAX_CONCURRENT_STREAMS: "4294967295", HTTP2_MAX_SESSION_MEMORY_MB: "0", HTTP2_IDLE_TIMEOUT_MS: "1.5",
        SERVER_HEADERS_TIMEOUT_MS: "60000", SERVER_REQUEST_TIMEOUT_MS: "30000", SERVER_MAX_CONCURRENT_REQUESTS: "0",
      }));
      assert.deepEqual(problems, [
        'SERVER_HANDSHAKE_TIMEOUT_MS must be a whole number from 100 to 600000, got "0".',
        'SERVER_KEEP_ALIVE_TIMEOUT_MS must be a whole number from 100 to 600000, got "soon".',
        'HTTP2_IDLE_TIMEOUT_MS must be a whole number from 100 to 86400000, got "1.5".',
        'HTTP2_MAX_CONCURRENT_STREAMS must be a whole number from 1 to 10000, got "4294967295".',
        'HTTP2_MAX_SESSION_MEMORY_MB must be a whole number from 1 to 1024, got "0".',
        'SERVER_MAX_CONCURRENT_REQUESTS must be a whole number from 1 to 1000000, got "0".',
        'SERVER_MAX_CONNECTIONS must be a whole number from 1 to 1000000, got "-1".',
        "SERVER_HEADERS_TIMEOUT_MS (60000) must not exceed SERVER_REQUEST_TIMEOUT_MS (30000): headers are part of the request.",
      ]);
    });
  }

  it("defaultMaxConnections() keeps a quarter of the open-file limit free, and at most 10,000", () => {
    assert.equal(defaultMaxConnections(1024), 768);
    assert.equal(defaultMaxConnections(4096), 3072);
    assert.equal(defaultMaxConnections(1_048_576), 10_000);
    assert.equal(defaultMaxConnections(undefined), 10_000);
    assert.equal(defaultMaxConnections(1), 1);
  });
});

describe("BROKER_HOST and GATEWAY_HOST", () => {
  const cases: [string, string, (env: Record<string, string>) => { host: string }, () => Record<string, string>][] = [
    ["BROKER_HOST", "loadBrokerConfig", loadBrokerConfig, validBroker],
    ["GATEWAY_HOST", "loadGatewayConfig", loadGatewayConfig, () => ({ BROKER_API_KEY: "k".repeat(20) })],
  ];
  for (const [variable, name, load, valid] of cases) {
    it(`${name}() listens on every IPv4 interface by default and takes an address in ${variable}`, () => {
      assert.equal(load(valid()).host, "0.0.0.0");
      for (const host of ["127.0.0.1", "10.1.2.3", "::1", "::", "fd00::5", "localhost"]) {
        assert.equal(load({ ...valid(), [variable]: ` ${host} ` }).host, host);
      }
    });

    it(`${name}() refuses a ${variable} that is not an address, naming the variable`, () => {
      for (const host of ["nexus.example.com", "256.1.1.1", "127.0.0.1:8080", "http://127.0.0.1", "1.2.3"]) {
        const problems = problemsOf(() => load({ ...valid(), [variable]: host }));
        assert.deepEqual(problems, [`${variable} must be an IP address to listen on, such as 127.0.0.1 (this host only) or 0.0.0.0 (every interface); got "${host}".`]);
      }
    });
  }
});
