import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** True for the error a listen on a taken port fails with. */
export function isAddressInUse(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "EADDRINUSE";
}

/**
 * The sentence for a taken port: which variable moves it, and which program
 * holds it when that can be found.
 */
export function busyPortMessage(port: number, variable: string, procDir = "/proc"): string {
  const holder = portHolder(port, procDir);
  const by = holder === undefined ? "another program" : `pid ${holder.pid} (${holder.name})`;
  return `port ${port} is already in use by ${by}: stop it, or set ${variable} to a free port`;
}

/** Runs `listen` and turns a taken port into {@linkcode busyPortMessage}. */
export async function explainBusyPort<T>(port: number, variable: string, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    if (isAddressInUse(error)) throw new Error(busyPortMessage(port, variable));
    throw error;
  }
}

/**
 * The process listening on TCP `port`, best effort and Linux only: the
 * socket's inode from /proc/net/tcp{,6}, then the process holding it in
 * /proc/PID/fd. Only the program's name is given, never its arguments, which
 * may hold secrets. Undefined when not found (another user's process, when
 * not root; another system).
 */
export function portHolder(port: number, procDir = "/proc"): { pid: number; name: string } | undefined {
  const inodes = new Set<string>();
  for (const table of ["net/tcp", "net/tcp6"]) {
    for (const line of read(`${procDir}/${table}`)?.split("\n").slice(1) ?? []) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      // State 0A is LISTEN; the local address ends with the port in hexadecimal.
      if (local !== undefined && fields[3] === "0A" && Number.parseInt(local.split(":").at(-1) ?? "", 16) === port && fields[9] !== undefined) {
        inodes.add(`socket:[${fields[9]}]`);
      }
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of list(procDir).filter((name) => /^\d+$/.test(name))) {
    for (const fd of list(`${procDir}/${pid}/fd`)) {
      let target: string;
      try {
        target = readlinkSync(`${procDir}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (inodes.has(target)) return { pid: Number(pid), name: read(`${procDir}/${pid}/comm`)?.trim() || "unknown program" };
    }
  }
  return undefined;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function list(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
