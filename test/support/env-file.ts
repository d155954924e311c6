import { readFileSync } from "node:fs";

/**
 * Reads a systemd EnvironmentFile as systemd does for the plain form the examples in deploy/systemd
 * use: `KEY=value` lines, `#` comments and blank lines. Quoting and continuation lines are refused
 * rather than guessed at, so an example never means something else to systemd than to the test.
 */
export function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [i, line] of readFileSync(path, "utf8").split("\n").entries()) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const m = /^([A-Z][A-Z0-9_]*)=([^"'\\]*)$/.exec(line);
    if (m === null) throw new Error(`${path}:${i + 1}: not a plain KEY=value line: ${line}`);
    if (m[1]! in env) throw new Error(`${path}:${i + 1}: ${m[1]} is set twice`);
    env[m[1]!] = m[2]!.trim();
  }
  return env;
}
