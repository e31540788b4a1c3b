import { readFileSync } from "node:fs";

/** How long one reading covers: long enough to smooth a burst, short enough to follow a load. */
const WINDOW_MS = 500;

/** What the storage asks before it starts a transaction. */
export interface PressureGauge {
  underPressure(): boolean;
}

/** The kernel's count for a thread: ns on a CPU, ns runnable but waiting for one. */
type SchedStat = readonly [runNs: number, waitNs: number];

/**
 * Whether the machine is short of CPU, as the node's event loop sees it: over the last window
 * it waited for a CPU longer than it ran (Linux's /proc/thread-self/schedstat). On a machine
 * with a core to spare a busy node still waits now and then (a fifth to two thirds as long as
 * it runs, at 1 durable node in the writes bench); when every core is taken it waits longer
 * than it runs (1 to 2.6 times, 3 durable nodes on 2 cores). Those ratios came from a patch
 * logging each reading (a one-off); the bench's note gives the share of transactions spaced
 * out, which follows them (0% at 1 durable node, 53–88% at 3 in docs/performance.md's runs).
 * Under pressure a durable node trades a few milliseconds of ack latency for fewer, fuller
 * transactions, which leaves more CPU for the rest; without it, nothing waits. It is not a
 * measure of saturation alone: with many processes on few cores, short bursts of work can wait
 * for a core longer than they run even at light load (4 writes in flight, 3 durable nodes on 2
 * cores), so what it gates must also ask whether there is load to batch (lmdb-storage.ts: only
 * while writes keep coming).
 *
 * Elsewhere (no schedstat), never: `underPressure` stays false.
 */
export class CpuPressure implements PressureGauge {
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
      this.#pressed = false;
      return false;
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
