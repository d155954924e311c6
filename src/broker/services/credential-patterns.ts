import { RE2JS } from "re2js";
import type { PatternEngine } from "../domain/credential-schema.ts";

/** Options of {@linkcode createCredentialPatterns}. */
export interface CredentialPatternsOptions {
  /** Compiled patterns kept; the oldest is dropped past it. @default 256 */
  readonly cacheSize?: number;
}

type Compiled = { readonly ok: true; readonly re: RE2JS } | { readonly ok: false; readonly problem: string };

/**
 * The Broker's {@linkcode PatternEngine}: RE2 (the re2js port), which matches
 * in time linear in the input, where JavaScript's backtracking RegExp takes
 * exponential time on patterns such as `^(a|a)+$`. Patterns are written in
 * JavaScript syntax (as JSON Schema says) and translated first, so `\u00e9`
 * and `(?<name>…)` work; what RE2 cannot do in linear time (backreferences,
 * lookahead, lookbehind) is a problem reported at registration.
 *
 * A stored pattern the engine cannot run (registered before this rule) never
 * matches: such a provider refuses captures until it is fixed, rather than
 * falling back to a backtracking engine.
 */
export function createCredentialPatterns(options: CredentialPatternsOptions = {}): PatternEngine {
  const cacheSize = options.cacheSize ?? 256;
  const cache = new Map<string, Compiled>();

  function compile(source: string): Compiled {
    const hit = cache.get(source);
    if (hit !== undefined) return hit;
    let compiled: Compiled;
    try {
      compiled = { ok: true, re: RE2JS.compile(RE2JS.translateRegExp(source)) };
    } catch (error) {
      compiled = { ok: false, problem: error instanceof Error ? error.message : String(error) };
    }
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
    cache.set(source, compiled);
    return compiled;
  }

  return {
    problem(source) {
      const compiled = compile(source);
      return compiled.ok ? undefined : compiled.problem;
    },
    test(source, value) {
      const compiled = compile(source);
      return compiled.ok && compiled.re.test(value);
    },
  };
}
