/**
 * Time and chance as the sync engine sees them: a wall clock, one-shot timers and a random
 * source. Real nodes use `REAL_TIMERS`; the fleet simulation passes `VirtualTimers`
 * (virtual-timers.ts), so a seeded schedule replays exactly.
 */
export type TimerHandle = { readonly __timer: unique symbol } | object;

export interface SyncTimers {
  /** Wall-clock milliseconds. */
  now(): number;
  /** Runs `fn` after `ms`; a timer never keeps the process alive by itself. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  /** Uniform in [0, 1): jitter, backoff and reconciliation salts. */
  random(): number;
}

export const REAL_TIMERS: SyncTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    // setImmediate for 0 ms: it runs after the I/O already queued, so a burst still coalesces.
    if (ms <= 0) return { immediate: setImmediate(fn) };
    const timer = setTimeout(fn, ms);
    timer.unref();
    return { timer };
  },
  clearTimeout: (handle) => {
    const h = handle as { immediate?: NodeJS.Immediate; timer?: NodeJS.Timeout } | undefined;
    if (h?.immediate !== undefined) clearImmediate(h.immediate);
    if (h?.timer !== undefined) clearTimeout(h.timer);
  },
  random: Math.random,
};

/** Real timers with another wall clock (a node under test with a skewed clock). */
export function realTimersWithClock(now: () => number): SyncTimers {
  return { ...REAL_TIMERS, now };
}
