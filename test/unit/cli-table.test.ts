/**
 * The nexus command's text output: tables that fit 100 columns without
 * cutting ids, colour that never moves a column, times in UTC; and the pure
 * parts of its options and of doctor's checks.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { clockCheck, keyRingCheck, migrationsCheck, wrap } from "../../src/cli/commands/doctor.ts";
import { relativeTime } from "../../src/cli/commands/sessions.ts";
import { parseSince, positiveInt } from "../../src/cli/options.ts";
import { type Column, formatMinute, formatSecond, layoutTable, renderTable, truncate } from "../../src/cli/table.ts";

const id = "0b6f1f0e-4a57-4a8e-9d62-2f6f1c1e7a10";
const ansi = /\u001b\[\d+m/g;

describe("renderTable()", () => {
  const columns: Column[] = [{ header: "ID" }, { header: "NAME", shrink: true }, { header: "STATUS" }];

  it("aligns columns two spaces apart, header first, no trailing spaces", () => {
    const text = renderTable(columns, [[id, "billing-agent", "active"], [id, "x", "disabled"]]);
    assert.equal(text, [
      `ID                                    NAME           STATUS`,
      `${id}  billing-agent  active`,
      `${id}  x              disabled`,
      "",
    ].join("\n"));
  });

  it("fits 100 columns by cutting the widest shrinkable column, never an id", () => {
    const long = "a-very-long-agent-name-that-someone-chose-for-reasons-of-their-own-and-more";
    const text = renderTable([...columns, { header: "PROVIDERS", shrink: true }], [[id, long, "active", "github,google,slack,stripe,salesforce"]]);
    const lines = text.trimEnd().split("\n");
    assert.ok(lines.every((l) => l.length <= 100), text);
    assert.equal(lines[1]!.slice(0, 36), id);
    // Both cut, the wider first, until they are as wide as each other.
    assert.equal(lines[1], `${id}  a-very-long-agent-name-th…  active  github,google,slack,strip…`);
    assert.equal(lines[1]!.length, 100);
  });

  it("cuts shrinkable columns no narrower than their header or minimum, and stays wider when nothing else can give", () => {
    const widths = layoutTable([{ header: "ID" }, { header: "DELEGATED BY", shrink: true, min: 4 }], [["x".repeat(120), "y".repeat(40)]]);
    assert.deepEqual(widths, [120, 12]);
  });

  it("pads the same with colour as without: only the text is painted", () => {
    const paint = (colour: string, text: string) => `\u001b[${colour === "green" ? 32 : 1}m${text}\u001b[0m`;
    const rows = [[id, "a", { text: "active", colour: "green" as const }], [id, "bb", { text: "disabled" }]];
    const plain = renderTable(columns, rows);
    const coloured = renderTable(columns, rows, { paint });
    assert.notEqual(coloured, plain);
    assert.equal(coloured.replace(ansi, ""), plain);
    assert.ok(coloured.includes("\u001b[32mactive\u001b[0m"));
  });

  it("keeps one line per row: control characters in a cell become spaces", () => {
    const text = renderTable([{ header: "DESCRIPTION" }], [["two\nlines\u001b[31m"]]);
    assert.equal(text, "DESCRIPTION\ntwo lines [31m\n");
  });
});

describe("truncate()", () => {
  it("cuts to the width with an ellipsis, counting code points", () => {
    assert.equal(truncate("abcdef", 4), "abc…");
    assert.equal(truncate("abcd", 4), "abcd");
    assert.equal(truncate("ééééé", 3), "éé…");
    assert.equal(truncate("abc", 0), "");
  });
});

describe("formatMinute() and formatSecond()", () => {
  it("print UTC, to the minute or second, and '-' when absent", () => {
    const t = timestampFromDate(new Date("2026-06-01T12:34:56.789Z"));
    assert.equal(formatMinute(t), "2026-06-01 12:34");
    assert.equal(formatSecond(t), "2026-06-01 12:34:56");
    assert.equal(formatSecond(new Date("2026-06-01T00:00:00Z")), "2026-06-01 00:00:00");
    assert.equal(formatMinute(undefined), "-");
  });
});

describe("relativeTime()", () => {
  it("says how far ahead or back, in the largest sensible unit", () => {
    assert.equal(relativeTime(599_950), "in 10 min");
    assert.equal(relativeTime(45_000), "in 45 s");
    assert.equal(relativeTime(-3 * 3_600_000), "3 h ago");
    assert.equal(relativeTime(5 * 86_400_000), "in 5 d");
  });
});

describe("parseSince()", () => {
  const now = Date.parse("2026-06-01T12:00:00Z");
  it("takes ages back from now, RFC 3339 times and dates", () => {
    assert.equal(parseSince("15m", now).toISOString(), "2026-06-01T11:45:00.000Z");
    assert.equal(parseSince("7d", now).toISOString(), "2026-05-25T12:00:00.000Z");
    assert.equal(parseSince("2026-05-31T10:00:00+02:00", now).toISOString(), "2026-05-31T08:00:00.000Z");
    assert.equal(parseSince("2026-05-31", now).toISOString(), "2026-05-31T00:00:00.000Z");
  });
  it("refuses anything else, saying what it takes", () => {
    for (const bad of ["yesterday", "15", "2026-05-31T10:00", "2026-13-40", ""]) {
      assert.throws(() => parseSince(bad, now), /must be an RFC 3339 time/, bad);
    }
  });
});

describe("positiveInt()", () => {
  it("takes whole numbers from 1 to the maximum", () => {
    assert.equal(positiveInt(500)("500"), 500);
    for (const bad of ["0", "501", "-1", "1.5", "1e2", "ten", ""]) assert.throws(() => positiveInt(500)(bad), /from 1 to 500/, bad);
  });
});

describe("doctor's checks", () => {
  it("clockCheck() is OK within 30 s, warns past it, fails past 5 min", () => {
    assert.deepEqual(clockCheck(400), { name: "clock", status: "ok", message: "the Broker's clock is within a second of this machine's" });
    assert.equal(clockCheck(-20_000).status, "ok");
    assert.equal(clockCheck(31_000).status, "warn");
    assert.equal(clockCheck(31_000).message, "the Broker's clock is 31 s ahead of this machine's");
    assert.equal(clockCheck(-301_000).status, "fail");
    assert.equal(clockCheck(-301_000).message, "the Broker's clock is 5 min behind this machine's");
    assert.match(clockCheck(-301_000).fix ?? "", /NTP/);
  });

  it("migrationsCheck() fails on pending migrations and warns on unknown ones", () => {
    assert.deepEqual(migrationsCheck({ migrationsKnown: ["001_a", "002_b"], migrationsApplied: ["001_a", "002_b"] }),
      { name: "migrations", status: "ok", message: "all 2 applied (latest 002_b)" });
    const pending = migrationsCheck({ migrationsKnown: ["001_a", "002_b", "003_c"], migrationsApplied: ["001_a"] });
    assert.equal(pending.status, "fail");
    assert.equal(pending.message, "2 of 3 not applied: 002_b, 003_c");
    assert.match(pending.fix ?? "", /make migrate/);
    assert.equal(migrationsCheck({ migrationsKnown: ["001_a"], migrationsApplied: ["001_a", "002_b"] }).status, "warn");
  });

  it("keyRingCheck() fails on a key in use that is not loaded, and on quarantined rows", () => {
    const healthy = { activeKeyId: "k2", loadedKeyIds: ["primary", "k2"], keyIdsInUse: ["primary", "k2"], quarantinedRows: 0 };
    assert.deepEqual(keyRingCheck(healthy), {
      name: "key ring", status: "ok", message: "active key k2; every key in use is loaded; nothing quarantined (primary still in use: make rewrap moves it)",
    });
    const missing = keyRingCheck({ ...healthy, loadedKeyIds: ["k2"] });
    assert.equal(missing.status, "fail");
    assert.equal(missing.message, "secrets are sealed with key id primary, which this Broker did not load");
    assert.match(missing.fix ?? "", /ENCRYPTION_KEYS/);
    const quarantined = keyRingCheck({ ...healthy, quarantinedRows: 3 });
    assert.equal(quarantined.status, "fail");
    assert.equal(quarantined.message, "3 stored secrets could not be opened (quarantined by make rewrap)");
  });
});

describe("wrap()", () => {
  it("breaks at spaces within the width; a longer word stands alone", () => {
    assert.deepEqual(wrap("check the Broker's log and its DATABASE_URL", 16), ["check the", "Broker's log and", "its DATABASE_URL"]);
    assert.deepEqual(wrap("a https://example.com/a/very/long/url b", 10), ["a", "https://example.com/a/very/long/url", "b"]);
    assert.deepEqual(wrap("short", 100), ["short"]);
  });
});
