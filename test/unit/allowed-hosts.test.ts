import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hostMatches } from "../../src/broker/domain/session.ts";
import { allowedHostsOf, hostAllowed, NexusClientError } from "../../src/client/mod.ts";
import { assertHostAllowed } from "../../src/client/allowed-hosts.ts";
import type { Credential } from "../../src/client/credential.ts";

const limited = (hosts: string): Credential => ({ strategy: { type: "oauth2", config: { allowed_hosts: hosts } }, credentials: { access_token: "t" } });

describe("allowed hosts (client side)", () => {
  it("hostAllowed() matches exact names and real subdomains of *.patterns only", () => {
    const patterns = ["api.example.com", "*.crm.example"];
    for (const host of ["api.example.com", "API.Example.com", "api.example.com.", "eu.crm.example", "a.b.crm.example"]) {
      assert.ok(hostAllowed(host, patterns), host);
    }
    for (const host of ["example.com", "x.api.example.com", "crm.example", ".crm.example", "a..crm.example", "evilcrm.example", "crm.example.evil.test", ""]) {
      assert.ok(!hostAllowed(host, patterns), host);
    }
  });

  it("hostAllowed() agrees with the Broker's hostMatches() on every pair of a generated set", () => {
    const labels = ["a", "b", "crm", "example", "com"];
    const hosts: string[] = [];
    for (const x of labels) for (const y of labels) for (const z of labels) hosts.push(`${x}.${y}.${z}`, `${y}.${z}`, z);
    const patterns = [...new Set(hosts.flatMap((h) => [h, `*.${h}`]))];
    for (const pattern of patterns) {
      for (const host of hosts) assert.equal(hostAllowed(host, [pattern]), hostMatches(pattern, host), `${pattern} vs ${host}`);
    }
  });

  it("allowedHostsOf() reads the comma list of the strategy config; none means no limit", () => {
    assert.deepEqual(allowedHostsOf(limited("api.example.com, *.crm.example")), ["api.example.com", "*.crm.example"]);
    assert.deepEqual(allowedHostsOf({ strategy: { type: "oauth2", config: {} }, credentials: {} }), []);
    assert.doesNotThrow(() => assertHostAllowed("https://anywhere.test/", { strategy: { type: "oauth2", config: {} }, credentials: {} }));
  });

  it("assertHostAllowed() throws host_not_allowed naming the host, never the credential", () => {
    try {
      assertHostAllowed("https://other.test:8443/x?token=q", limited("api.example.com"));
      assert.fail("expected a refusal");
    } catch (error) {
      assert.ok(error instanceof NexusClientError);
      assert.deepEqual([error.reason, error.code, error.metadata.host], ["host_not_allowed", "permission_denied", "other.test"]);
      assert.ok(!error.message.includes("token=q") && !error.message.includes('"t"'));
    }
  });
});
