import { seededRandom } from "./seeded-random.js";
import type { SyncTimers, TimerHandle } from "./timers.js";

interface Scheduled {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Virtual time for deterministic tests: timers fire only when the test advances the clock, in
 * (time, creation) order, and chance comes from a seed. Between two instants every pending
 * promise continuation runs (`runFor` yields to the real event loop), so async code behaves as
 * it would, minus the real waiting.
 */
export class VirtualTimers implements SyncTimers {
  private clock: number;
  private order = 0;
  private queue: Scheduled[] = [];
  readonly random: () => number;

  constructor(seed: number, startMs = 1_764_000_000_000) {
    this.clock = startMs;
    this.random = seededRandom(seed);
  }

  now(): number {
    return this.clock;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const entry: Scheduled = {
      at: this.clock + Math.max(0, ms),
      order: this.order++,
      fn,
      cancelled: false,
    };
    // Kept sorted by insertion: timers are few (a handful per node) and mostly appended.
    let i = this.queue.length;
    while (i > 0 && later(this.queue[i - 1]!, entry)) i--;
    this.queue.splice(i, 0, entry);
    return entry;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) (handle as Scheduled).cancelled = true;
  }

  /** Timers still to fire. */
  get pending(): number {
    return this.queue.filter((t) => !t.cancelled).length;
  }

  /** Fires every timer due within `ms`, in order, settling promises after each. */
  async runFor(ms: number): Promise<void> {
    const end = this.clock + ms;
    await settle();
    for (;;) {
      const next = this.queue[0];
      if (next === undefined || next.at > end) break;
      // Everything due at one instant fires together, then promises settle: the order stays
      // deterministic, and a busy simulation turns the event loop once per instant, not per timer.
      const at = next.at;
      this.clock = Math.max(this.clock, at);
      let fired = 0;
      while (this.queue[0] !== undefined && this.queue[0].at === at) {
        const due = this.queue.shift()!;
        if (due.cancelled) continue;
        due.fn();
        fired++;
      }
      if (fired > 0) await settle();
    }
    this.clock = end;
  }

  /** Advances until `done()` holds or `maxMs` of virtual time passed; returns whether it held. */
  async runUntil(done: () => boolean, maxMs: number, stepMs = 50): Promise<boolean> {
    for (let waited = 0; waited <= maxMs; waited += stepMs) {
      if (done()) return true;
      await this.runFor(stepMs);
    }
    return done();
  }
}

function later(a: Scheduled, b: Scheduled): boolean {
  return a.at > b.at || (a.at === b.at && a.order > b.order);
}

/** Lets every queued promise continuation run: a macrotask turn drains the microtask queue. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
