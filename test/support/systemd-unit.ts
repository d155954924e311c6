import { readFileSync } from "node:fs";

/** A unit file's settings: section -> key -> every value, in order (ExecStartPre and kin may repeat). */
export type UnitFile = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

/** Reads a systemd unit file: `[Section]` headers, `Key=value` lines, `#` and `;` comments. */
export function readUnitFile(path: string): UnitFile {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const [i, raw] of readFileSync(path, "utf8").split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header !== null) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const setting = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (setting === null || current === undefined) throw new Error(`${path}:${i + 1}: not a setting: ${raw}`);
    current.set(setting[1]!, [...(current.get(setting[1]!) ?? []), setting[2]!]);
  }
  return sections;
}

/** The values of `key` in `[Service]`. */
export function serviceSetting(unit: UnitFile, key: string): readonly string[] {
  return unit.get("Service")?.get(key) ?? [];
}
