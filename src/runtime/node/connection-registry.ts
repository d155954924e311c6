import type * as net from "node:net";
import type { ServerMetrics } from "./server-metrics.ts";

/** One accepted client connection, as the connection limits see it. */
export interface TrackedConnection {
  readonly socket: net.Socket;
  /** Nothing the client asked for is in progress: the connection may be closed to make room, oldest idle first. */
  idle(): void;
  /** A request is being received or answered: the connection is never closed to make room. */
  busy(): void;
  /** How this connection is closed to make room. HTTP/2 replaces it to say GOAWAY first. */
  evict: () => void;
  /** Runs `expire` after `ms`, unless another deadline or `clearDeadline()` comes first. One deadline at a time. */
  deadline(ms: number, expire: () => void): void;
  clearDeadline(): void;
}

/** Every open client connection of one server, capped. */
export interface ConnectionRegistry {
  /**
   * Tracks a newly accepted socket. At the cap the oldest idle connection is
   * closed to make room; `undefined` means every connection is busy and the
   * caller must turn this one away.
   */
  admit(socket: net.Socket): TrackedConnection | undefined;
  /** Connections open now. */
  readonly size: number;
  /** Of which idle. */
  readonly idleCount: number;
}

/**
 * Creates the registry. Idle connections sit in an insertion-ordered set,
 * re-inserted whenever they become idle, so the first entry is always the one
 * idle the longest and picking it costs O(1) however many are open.
 */
export function createConnectionRegistry(maxConnections: number, metrics: ServerMetrics): ConnectionRegistry {
  const open = new Set<TrackedConnection>();
  const idle = new Set<TrackedConnection>();

  function track(socket: net.Socket): TrackedConnection {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const connection: TrackedConnection = {
      socket,
      idle() {
        idle.delete(connection);
        if (open.has(connection)) idle.add(connection);
      },
      busy() {
        idle.delete(connection);
      },
      evict: () => socket.destroy(),
      deadline(ms, expire) {
        clearTimeout(timer);
        timer = setTimeout(expire, Math.max(0, ms));
        // The socket keeps the process alive while it matters; a pending deadline must not.
        timer.unref();
      },
      clearDeadline() {
        clearTimeout(timer);
        timer = undefined;
      },
    };
    open.add(connection);
    socket.once("close", () => {
      clearTimeout(timer);
      open.delete(connection);
      idle.delete(connection);
    });
    return connection;
  }

  return {
    admit(socket) {
      if (open.size >= maxConnections) {
        const oldest = idle.values().next().value;
        if (oldest === undefined) return undefined;
        // Forgotten at once: an HTTP/2 eviction closes after its GOAWAY, and must not be picked twice meanwhile.
        open.delete(oldest);
        idle.delete(oldest);
        metrics.closed("evicted");
        oldest.evict();
      }
      return track(socket);
    },
    get size() {
      return open.size;
    },
    get idleCount() {
      return idle.size;
    },
  };
}
