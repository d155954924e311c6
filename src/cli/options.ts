import { InvalidArgumentError } from "commander";

/** A parser for `--limit N`: a whole number from 1 to `max`. */
export function positiveInt(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`);
    }
    return n;
  };
}

/** A parser for a list option (`--allowed-providers a,b`): comma-separated, blanks dropped. */
export function commaList(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

const units: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`: an RFC 3339 time (`2026-06-01T12:00:00Z`, or a date), or an age
 * back from `now` (`30s`, `15m`, `2h`, `7d`). Throws InvalidArgumentError
 * (commander reports it in one line) on anything else.
 */
export function parseSince(value: string, now: number): Date {
  const age = /^(\d+)([smhd])$/.exec(value.trim());
  if (age !== null) return new Date(now - Number(age[1]) * units[age[2]!]!);
  const date = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value.trim()) ? new Date(value.trim()) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError("must be an RFC 3339 time (2026-06-01T12:00:00Z), a date (2026-06-01), or an age such as 30s, 15m, 2h or 7d");
  }
  return date;
}
