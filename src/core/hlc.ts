import { isCount } from "./count.js";

/**
 * Hybrid logical clock timestamps, packed into one JS number: `wallMs * 2^10 + counter`.
 *
 * One number compares with `<`, costs no allocation, and fits a double exactly until the year
 * 2248 (2^53 / 2^10 ms). A counter of 10 bits allows 1,024 events per millisecond; when it
 * overflows the wall part is advanced by one millisecond, which keeps the clock monotonic at the
 * price of running a little ahead under a burst, exactly as HLC does when a peer is ahead.
 */
export type HlcTimestamp = number;

const COUNTER_BITS = 10;
const COUNTER_SPAN = 2 ** COUNTER_BITS;
const COUNTER_MAX = COUNTER_SPAN - 1;

export function packHlc(wallMs: number, counter: number): HlcTimestamp {
  return wallMs * COUNTER_SPAN + counter;
}

export function hlcWall(ts: HlcTimestamp): number {
  return Math.floor(ts / COUNTER_SPAN);
}

export function hlcCounter(ts: HlcTimestamp): number {
  return ts % COUNTER_SPAN;
}

export function isHlcTimestamp(value: unknown): value is HlcTimestamp {
  return isCount(value);
}

/** A peer's timestamp too far ahead of our wall clock: adopting it would drag every node forward. */
export class ClockSkewError extends Error {
  readonly code = "clock_skew";
  constructor(
    readonly remoteWallMs: number,
    readonly localWallMs: number,
    readonly maxSkewMs: number,
  ) {
    super(
      `remote timestamp is ${remoteWallMs - localWallMs} ms ahead of the local clock (limit ${maxSkewMs} ms)`,
    );
  }
}

/** Default for how far a peer's timestamp may pull the local clock ahead of wall time. */
export const DEFAULT_MAX_CLOCK_DRIFT_MS = 1_000;

export class Hlc {
  private last: HlcTimestamp = 0;

  /**
   * @param wallClock source of wall time in ms, injected so the core stays free of real time.
   * @param maxSkewMs how far ahead of our wall clock a remote timestamp may be and still be taken.
   * @param maxDriftMs how far ahead of our wall clock a remote timestamp may move this clock.
   *   Plain HLC adopts every timestamp it receives, so one node running ahead drags every other
   *   node's clock with it and their later writes lose to its earlier ones; capping the drift
   *   keeps honest clocks honest. Causality per key does not need the global clock to follow:
   *   a write to a key is always made newer than the version it replaces (`after`).
   */
  constructor(
    private readonly wallClock: () => number,
    readonly maxSkewMs: number,
    readonly maxDriftMs = DEFAULT_MAX_CLOCK_DRIFT_MS,
  ) {}

  /** A timestamp for a local event, greater than every timestamp issued or received before. */
  now(): HlcTimestamp {
    const wall = this.wallClock();
    const lastWall = hlcWall(this.last);
    if (wall > lastWall) this.last = packHlc(wall, 0);
    else this.last = this.successor(this.last);
    return this.last;
  }

  /**
   * A timestamp for a local write replacing version `previous`: the clock's next reading, or
   * just after `previous` when a peer wrote that version from a clock ahead of ours. The clock
   * itself is not moved, so one key written from the future does not age every other write.
   */
  after(previous: HlcTimestamp): HlcTimestamp {
    const ts = this.now();
    return ts > previous ? ts : this.successor(previous);
  }

  /** Merges a remote timestamp into the clock; throws ClockSkewError if it runs too far ahead. */
  receive(remote: HlcTimestamp): void {
    this.checkSkew(remote);
    this.observe(remote);
  }

  /**
   * Takes in a remote timestamp whose skew the caller has already checked. The clock follows it
   * at most `maxDriftMs` beyond the wall clock.
   */
  observe(remote: HlcTimestamp): void {
    const ceiling = packHlc(this.wallClock() + this.maxDriftMs, 0);
    const bounded = remote < ceiling ? remote : ceiling;
    if (bounded > this.last) this.last = bounded;
  }

  /** The latest wall time a remote write may be treated as made at, for its lease. */
  leaseStartOf(remote: HlcTimestamp): number {
    return Math.min(hlcWall(remote), this.wallClock() + this.maxDriftMs);
  }

  /** Throws ClockSkewError when `remote` is further ahead of the wall clock than allowed. */
  checkSkew(remote: HlcTimestamp): void {
    const wall = this.wallClock();
    const remoteWall = hlcWall(remote);
    if (remoteWall - wall > this.maxSkewMs) {
      throw new ClockSkewError(remoteWall, wall, this.maxSkewMs);
    }
  }

  /** The wall clock's current reading, in ms. */
  wall(): number {
    return this.wallClock();
  }

  /** The last timestamp issued or received, without advancing. */
  peek(): HlcTimestamp {
    return this.last;
  }

  /**
   * Restores the clock after a restart from the newest version held. Within the drift bound it
   * resumes after it; beyond it (a peer's version from a clock ahead) writes to that key still
   * come after it through `after`, which is all a reissued timestamp could break.
   */
  restore(last: HlcTimestamp): void {
    this.observe(last);
  }

  private successor(ts: HlcTimestamp): HlcTimestamp {
    const counter = hlcCounter(ts);
    return counter < COUNTER_MAX ? ts + 1 : packHlc(hlcWall(ts) + 1, 0);
  }
}
