import { dirname, join, normalize } from "node:path";

/** A source file: its path relative to the repository root, and its text. */
export interface SourceFile {
  readonly path: string;
  readonly source: string;
}

/** A broken rule: where, what it imported, and which rule. */
export interface Violation {
  readonly file: string;
  readonly specifier: string;
  readonly rule: string;
}

interface Rule {
  readonly name: string;
  readonly applies: (path: string) => boolean;
  readonly forbids: (target: string, specifier: string) => boolean;
}

const under = (prefix: string) => (path: string) => path.startsWith(prefix);
const isNode = (s: string) => s.startsWith("node:");
const runtimeOrVault = (p: string) => p.startsWith("src/runtime/") || p.startsWith("src/broker/vault/");

/** The layer boundaries of the tree (see docs/architecture.md). */
export const rules: readonly Rule[] = [
  {
    name: "broker handlers reach data only through services",
    applies: under("src/broker/handlers/"),
    forbids: (t, s) =>
      ["src/broker/repositories/", "src/broker/db/", "src/broker/vault/", "src/broker/oauth/"].some((p) => t.startsWith(p)) ||
      s === "postgres",
  },
  {
    name: "broker services depend on ports, not on storage, transport or generated code",
    applies: (p) => p.startsWith("src/broker/services/") || p.startsWith("src/broker/refresh/"),
    forbids: (t, s) =>
      ["src/broker/repositories/", "src/broker/db/", "src/broker/vault/", "src/broker/handlers/", "gen/"].some((p) => t.startsWith(p)) ||
      s === "postgres" || s.startsWith("@connectrpc/"),
  },
  {
    name: "broker repositories and the vault know nothing of services, handlers or the contract",
    applies: (p) => p.startsWith("src/broker/repositories/") || p.startsWith("src/broker/vault/"),
    forbids: (t) => ["src/broker/services/", "src/broker/handlers/", "src/broker/refresh/", "gen/"].some((p) => t.startsWith(p)),
  },
  {
    name: "broker domain is pure",
    applies: under("src/broker/domain/"),
    // Packages resolve to "" and are forbidden too: the domain imports nothing but itself, the error type
    // and rules shared with the Gateway and clients (plain constants and the input rules).
    forbids: (t) => !t.startsWith("src/broker/domain/") && !["src/shared/errors.ts", "src/shared/assertion-algorithms.ts", "src/shared/input-rules.ts"].includes(t),
  },
  {
    name: "the Gateway reaches the Broker only over RPC",
    applies: under("src/gateway/"),
    forbids: (t) => t.startsWith("src/broker/") || t.startsWith("src/runtime/"),
  },
  {
    name: "the agent client depends on nothing server-side",
    applies: under("src/client/"),
    forbids: (t) => t.startsWith("src/broker/") || t.startsWith("src/gateway/") || t.startsWith("src/runtime/"),
  },
  {
    name: "the nexus command talks to the Broker through the contract only",
    applies: under("src/cli/"),
    forbids: (t, s) => ["src/broker/", "src/gateway/", "src/runtime/", "src/client/"].some((p) => t.startsWith(p)) || s === "postgres" || isNode(s),
  },
  {
    name: "the web app runs in the browser: only the contract, the input rules and its own files",
    applies: under("src/web-app/"),
    forbids: (t) => ["src/broker/", "src/gateway/", "src/runtime/", "src/shared/", "src/client/"].some((p) => t.startsWith(p)) && t !== inputRulesFile,
  },
  {
    name: "shared code depends on no process",
    applies: under("src/shared/"),
    forbids: (t) => ["src/broker/", "src/gateway/", "src/runtime/", "src/client/"].some((p) => t.startsWith(p)),
  },
  {
    name: "only runtime entries and the vault import node:*",
    applies: (p) => p.startsWith("src/") && !runtimeOrVault(p),
    forbids: (_t, s) => isNode(s),
  },
];

const importPattern = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

/** The module specifiers a file imports or re-exports. */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(importPattern)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

/** Runtime globals core code must not touch, so it runs in Deno and browsers too. */
const globalPattern = /(?<![.\w])(process\.|Buffer\.|Deno\.)/;

/** Checks every rule on every file. */
export function checkArchitecture(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    for (const specifier of importsOf(file.source)) {
      const target = specifier.startsWith(".") ? normalize(join(dirname(file.path), specifier)) : "";
      for (const rule of rules) {
        if (rule.applies(file.path) && rule.forbids(target, specifier)) {
          violations.push({ file: file.path, specifier, rule: rule.name });
        }
      }
    }
    if (file.path.startsWith("src/") && !runtimeOrVault(file.path)) {
      const code = file.source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
      const m = globalPattern.exec(code);
      if (m) violations.push({ file: file.path, specifier: m[1]!, rule: "core code uses web-platform APIs, not runtime globals" });
    }
  }
  return violations;
}

/** Where input rules are defined: every limit and pattern, once (issue 20). */
export const inputRulesFile = "src/shared/input-rules.ts";

/**
 * Input rules written outside {@linkcode inputRulesFile}: one of its patterns
 * spelled out again (`[0-9a-f]{8}-[0-9a-f]{4}...`), or a value compared
 * with one of its limits as a number literal on a line that refuses input
 * (`if (v.length > 2048) throw ...`, `if (limit > 500) throw ...`). `patterns` and `limits` are the shared
 * module's own, so a new one is covered the moment it is added there. A
 * comparison is `x.length > N` (or `.size`, `limit`, `pageSize`) with N one
 * of the limits (10 or more), on a line that throws or rejects.
 */
export function checkRulesDefinedOnce(files: readonly SourceFile[], patterns: Readonly<Record<string, RegExp>>, limits: Readonly<Record<string, unknown>>): Violation[] {
  const bodies = Object.values(patterns).map((p) => p.source.replace(/^\^/, "").replace(/\$$/, ""));
  const numbers = new Set(Object.values(limits).flatMap((v) => (typeof v === "number" ? [v] : Object.values(v as Record<string, number>))).filter((n) => n >= 10));
  const refusal = /\bthrow\b|invalidArgument\(|new NexusError\(|\breject\(/;
  const comparison = /(?:\.length|\.size|\blimit|\bpageSize)\s*(?:>=?|<=?)\s*(\d[\d_]*)/g;
  const violations: Violation[] = [];
  for (const file of files) {
    if (file.path === inputRulesFile || !file.path.startsWith("src/")) continue;
    for (const body of bodies) {
      if (file.source.includes(body)) violations.push({ file: file.path, specifier: body, rule: "input rules are defined once, in src/shared/input-rules.ts" });
    }
    for (const line of file.source.split("\n")) {
      if (!refusal.test(line)) continue;
      for (const m of line.matchAll(comparison)) {
        if (numbers.has(Number(m[1]!.replaceAll("_", "")))) violations.push({ file: file.path, specifier: line.trim(), rule: "input rules are defined once, in src/shared/input-rules.ts" });
      }
    }
  }
  return violations;
}

/** Code that only clients of Nexus run: they read errors from their details. */
const clientSide = (p: string) => ["src/client/", "src/web-app/", "src/cli/"].some((d) => p.startsWith(d));

/**
 * Places where the client, the web app or the CLI parse an error's message
 * text (a reason, a field or a hint read out of it with a regular
 * expression, split or search) instead of reading its details.
 */
export function checkNoMessageParsing(files: readonly SourceFile[]): Violation[] {
  const patterns = [
    // /.../.exec(e.rawMessage), pattern.test(error.message)
    /\.(?:exec|test)\(\s*[\w.?!]*\b(?:rawMessage|message)\b\s*\)/,
    // e.rawMessage.match(/.../), message.replace(/.../, ...), .split(": ")
    /\b(?:rawMessage|message)\s*\.\s*(?:match|matchAll|replace|replaceAll|search|split)\s*\(/,
  ];
  const violations: Violation[] = [];
  for (const file of files) {
    if (!clientSide(file.path)) continue;
    const code = file.source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    for (const line of code.split("\n")) {
      if (patterns.some((p) => p.test(line))) violations.push({ file: file.path, specifier: line.trim(), rule: "clients read errors from their details, never from the message text" });
    }
  }
  return violations;
}
