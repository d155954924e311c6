/**
 * Pure helpers for reading configuration from an environment map. A reader
 * collects every problem instead of stopping at the first, so an operator
 * fixes a broken deployment in one pass; `finish()` throws them all at once.
 */
import type { LogLevel } from "./logger.ts";

/** The environment, as `process.env` or `Deno.env.toObject()` give it. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Thrown when configuration is missing or invalid; lists every problem. */
export class ConfigError extends Error {
  /** One line per problem, each saying how to fix it. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** How to make a key, quoted in every key problem. */
export const keyHint =
  "Generate one with: openssl rand -base64 32 (or: node -e \"console.log(require('node:crypto').randomBytes(32).toString('base64'))\")";

const base64Of32Bytes = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** A reader over one environment that accumulates problems. */
export interface ConfigReader {
  /** A trimmed string; `undefined` when unset or blank and no default. */
  string(name: string, options?: { default?: string; required?: string }): string | undefined;
  /** An integer within bounds. */
  integer(name: string, options: { default: number; min: number; max: number }): number;
  /** `true`/`false` (also 1/0, yes/no). */
  boolean(name: string, fallback: boolean): boolean;
  /** A TCP port. */
  port(name: string, defaultPort: number): number;
  /** An absolute http(s) URL, normalised without a trailing slash. */
  url(name: string, options?: { default?: string; required?: string }): URL | undefined;
  /** A comma-separated list, trimmed, blanks dropped. */
  list(name: string): string[];
  /** Exactly 32 bytes as strict, padded, standard base64. */
  key32(name: string, value: string | undefined, required: boolean): Uint8Array | undefined;
  /** The log level in LOG_LEVEL. */
  logLevel(): LogLevel;
  /** Records a problem found by the caller. */
  problem(message: string): void;
  /** Throws a ConfigError listing every problem, if any were found. */
  finish(): void;
}

/** Creates a reader over `env`. */
export function createConfigReader(env: Env): ConfigReader {
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const reader: ConfigReader = {
    string(name, options = {}) {
      const v = raw(name) ?? options.default;
      if (v === undefined && options.required !== undefined) problems.push(`${name} is not set. ${options.required}`);
      return v;
    },
    integer(name, { default: fallback, min, max }) {
      const v = raw(name);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
        problems.push(`${name} must be a whole number from ${min} to ${max}, got "${v}".`);
        return fallback;
      }
      return n;
    },
    boolean(name, fallback) {
      const v = raw(name)?.toLowerCase();
      if (v === undefined) return fallback;
      if (["true", "1", "yes"].includes(v)) return true;
      if (["false", "0", "no"].includes(v)) return false;
      problems.push(`${name} must be true or false, got "${v}".`);
      return fallback;
    },
    port(name, defaultPort) {
      return reader.integer(name, { default: defaultPort, min: 0, max: 65535 });
    },
    url(name, options = {}) {
      const v = raw(name) ?? options.default;
      if (v === undefined) {
        if (options.required !== undefined) problems.push(`${name} is not set. ${options.required}`);
        return undefined;
      }
      let parsed: URL;
      try {
        parsed = new URL(v);
      } catch {
        problems.push(`${name} must be an absolute URL such as https://nexus.example.com, got "${v}".`);
        return undefined;
      }
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
        problems.push(`${name} must use http or https, got "${parsed.protocol}".`);
        return undefined;
      }
      if (parsed.search !== "" || parsed.hash !== "" || parsed.username !== "" || parsed.password !== "") {
        problems.push(`${name} must not carry a query, fragment or credentials.`);
        return undefined;
      }
      parsed.pathname = parsed.pathname.replace(/\/+$/, "");
      return parsed;
    },
    list(name) {
      return (raw(name) ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
    },
    key32(name, value, required) {
      const v = value?.trim();
      if (v === undefined || v === "") {
        if (required) problems.push(`${name} is not set. It must be stable across restarts. ${keyHint}`);
        return undefined;
      }
      if (!base64Of32Bytes.test(v)) {
        const decoded = tryDecodeBase64(v);
        problems.push(
          decoded === undefined
            ? `${name} is not valid standard base64 (padded, alphabet A-Z a-z 0-9 + /); expected 32 bytes. ${keyHint}`
            : `${name} decodes to ${decoded.length} bytes; expected exactly 32. ${keyHint}`,
        );
        return undefined;
      }
      return tryDecodeBase64(v);
    },
    logLevel() {
      const v = raw("LOG_LEVEL")?.toLowerCase() ?? "info";
      if (v === "debug" || v === "info" || v === "warn" || v === "error") return v;
      problems.push(`LOG_LEVEL must be one of debug, info, warn, error; got "${v}".`);
      return "info";
    },
    problem(message) {
      problems.push(message);
    },
    finish() {
      if (problems.length > 0) throw new ConfigError(problems);
    },
  };
  return reader;
}

function tryDecodeBase64(value: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) return undefined;
  try {
    return Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
