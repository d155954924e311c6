import type { Timers } from "./abortable-sleep.ts";
import type { Credential } from "./credential.ts";

/** When a WebSocket's or gRPC stream's credential must be replaced; see {@linkcode createRotationSchedule}. */
export interface RotationSchedule {
  /** Arms the timer for a credential just put in use (nothing for one that does not expire). */
  plan(credential: Credential): void;
  /** Arms the timer `delayMs` from now, after a failed rotation. */
  retryIn(delayMs: number): void;
  /** Whether a wake-up came before the due time (long waits are split); plan nothing new, just re-arm. */
  early(): boolean;
  /** Re-arms for the same due time. */
  rearm(): void;
  clear(): void;
}

// setTimeout overflows past ~24.8 days; longer waits are done in steps.
const maxTimerMs = 86_400_000;

/**
 * Schedules credential rotation for maintainWebSocket and
 * maintainGrpcStream: `marginMs` before expiry, but never earlier than
 * halfway through the remaining life nor within a second, so short-lived
 * tokens cannot make it spin. `onDue` runs when the time comes. One timer at
 * most; `clear` leaves none.
 */
export function createRotationSchedule(options: { timers: Timers; now: () => number; marginMs: number; onDue: () => void }): RotationSchedule {
  const { timers, now } = options;
  let handle: unknown;
  let dueAt = 0;
  const clear = () => {
    if (handle !== undefined) timers.clearTimeout(handle);
    handle = undefined;
  };
  const arm = (at: number) => {
    clear();
    dueAt = at;
    handle = timers.setTimeout(() => {
      handle = undefined;
      options.onDue();
    }, Math.min(maxTimerMs, Math.max(0, at - now())));
  };
  return {
    plan(credential) {
      clear();
      if (credential.expiresAt === undefined) return;
      const expiresMs = credential.expiresAt * 1000;
      const t = now();
      arm(Math.max(expiresMs - options.marginMs, t + (expiresMs - t) / 2, t + 1000));
    },
    retryIn: (delayMs) => arm(now() + delayMs),
    early: () => now() < dueAt,
    rearm: () => arm(dueAt),
    clear,
  };
}
