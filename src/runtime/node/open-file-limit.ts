import { readFileSync } from "node:fs";

/**
 * The process's soft open-file limit (`ulimit -n`), read from
 * /proc/self/limits; `undefined` where that file does not exist (not Linux)
 * or says "unlimited". Node has no API for getrlimit.
 */
export function openFileLimit(): number | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+)/m.exec(text)?.[1];
  return soft === undefined ? undefined : Number(soft);
}
