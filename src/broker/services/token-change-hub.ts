import type { AgentCache } from "./agent-cache.ts";
import type { CredentialCache } from "./credential-cache.ts";

/** One change a Gateway's cache must hear about. */
export type TokenChange =
  | { readonly kind: "state"; readonly inSync: boolean }
  | { readonly kind: "connection"; readonly connectionId: string }
  | { readonly kind: "agent"; readonly agentId: string }
  | { readonly kind: "everything" };

/**
 * Passes every change this Broker's caches hear (from its own writes and,
 * through PostgreSQL notifications, from every Broker's) on to the Gateways
 * that watch them, with the state of the feed: in sync or not.
 */
export interface TokenChangeHub {
  /**
   * Subscribes: `change` hears the current state at once, then every change
   * and a heartbeat; `closed` is called when the hub closes. Returns the
   * unsubscribe function.
   */
  subscribe(listener: TokenChangeListener): () => void;
  /**
   * The token and agent caches to hand the change feed and the writers: the
   * same caches, whose invalidations and trust changes are also passed on.
   */
  watching(caches: { tokens: CredentialCache; agents: AgentCache }): { tokens: CredentialCache; agents: AgentCache };
  /** Ends every subscription (shutdown): listeners hear nothing more. */
  close(): void;
  readonly subscribers: number;
}

/** A subscriber of {@linkcode TokenChangeHub}. */
export interface TokenChangeListener {
  change(change: TokenChange): void;
  closed(): void;
}

/** Options of {@linkcode createTokenChangeHub}. */
export interface TokenChangeHubOptions {
  /** How often subscribers hear the state while nothing else happens. @default 1000 */
  readonly heartbeatMs?: number;
  /** Runs `fn` every `ms`; returns a function that stops it. @default setInterval */
  readonly setInterval?: (fn: () => void, ms: number) => () => void;
}

/** Creates a hub with no subscribers, not in sync until its caches are trusted. */
export function createTokenChangeHub(options: TokenChangeHubOptions = {}): TokenChangeHub {
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const every = options.setInterval ?? ((fn, ms) => {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  });
  const listeners = new Set<TokenChangeListener>();
  let inSync = false;
  let stopHeartbeat: (() => void) | undefined;

  function send(change: TokenChange): void {
    for (const listener of listeners) listener.change(change);
  }

  const heartbeat = () => send({ kind: "state", inSync });

  return {
    subscribe(listener) {
      listeners.add(listener);
      listener.change({ kind: "state", inSync });
      stopHeartbeat ??= every(heartbeat, heartbeatMs);
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) {
          stopHeartbeat?.();
          stopHeartbeat = undefined;
        }
      };
    },
    watching({ tokens, agents }) {
      return {
        tokens: {
          ...tokens,
          get trusted() {
            return tokens.trusted;
          },
          get size() {
            return tokens.size;
          },
          invalidate(connectionId) {
            tokens.invalidate(connectionId);
            send(connectionId === undefined ? { kind: "everything" } : { kind: "connection", connectionId });
          },
          trust(value) {
            tokens.trust(value);
            if (value !== inSync) {
              inSync = value;
              heartbeat();
            }
          },
        },
        agents: {
          ...agents,
          get trusted() {
            return agents.trusted;
          },
          invalidate(agentId) {
            agents.invalidate(agentId);
            send(agentId === undefined ? { kind: "everything" } : { kind: "agent", agentId });
          },
        },
      };
    },
    close() {
      const all = [...listeners];
      listeners.clear();
      for (const listener of all) listener.closed();
      stopHeartbeat?.();
      stopHeartbeat = undefined;
    },
    get subscribers() {
      return listeners.size;
    },
  };
}
