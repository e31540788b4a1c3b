import { readFileSync } from "node:fs";

/** How long one reading covers: long enough to smooth a burst, short enough to follow a load. */
const WINDOW_MS = 500;

/** The kernel's count for a thread: ns on a CPU, ns runnable but waiting for one. */
type SchedStat = readonly [runNs: number, waitNs: number];

/**
 * Whether the machine is short of CPU, as this thread sees it: over the last window it waited
 * for a CPU longer than it ran (Linux's /proc/thread-self/schedstat). On a machine with a core
 * to spare a busy node still waits now and then (a fifth of the time or less, measured); when
 * every core is taken it waits more than it runs.
 *
 * Elsewhere (no schedstat), never: `underPressure` stays false.
 */
export class CpuPressure {
  #last: SchedStat | undefined;
  #lastAt = 0;
  #pressed = false;

  constructor(
    private readonly read: () => SchedStat | undefined = readOwnSchedStat,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#last = this.read();
    this.#lastAt = this.now();
  }

  /** Cheap to call often: the counters are read at most once a window. */
  underPressure(): boolean {
    if (this.#last === undefined) return false;
    const at = this.now();
    if (at - this.#lastAt < WINDOW_MS) return this.#pressed;
    const current = this.read();
    if (current === undefined) {
      this.#last = undefined;
      return (this.#pressed = false);
    }
    const ran = current[0] - this.#last[0];
    const waited = current[1] - this.#last[1];
    this.#last = current;
    this.#lastAt = at;
    this.#pressed = ran > 0 && waited > ran;
    return this.#pressed;
  }
}

/** The calling thread's schedstat, or undefined where there is none. */
export function readOwnSchedStat(): SchedStat | undefined {
  try {
    const [run, wait] = readFileSync("/proc/thread-self/schedstat", "utf8").split(" ");
    const stat: SchedStat = [Number(run), Number(wait)];
    return Number.isFinite(stat[0]) && Number.isFinite(stat[1]) ? stat : undefined;
  } catch {
    return undefined;
  }
}
