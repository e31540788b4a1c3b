import type { Gauge } from "prom-client";

/**
 * `regsync_convergence_lag_seconds`: how long since this node's digest last equalled that of
 * every live peer (0 while it does). Sampled on a timer, so an agreement shorter than one
 * interval may be missed: the lag then reads longer than it was, never shorter.
 */
export class ConvergenceLag {
  private agreedAtMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly gauge: Gauge,
    private readonly converged: () => boolean,
    private readonly clock: () => number,
  ) {
    this.agreedAtMs = clock();
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Updates the gauge; returns the lag in seconds. */
  sample(): number {
    const now = this.clock();
    if (this.converged()) this.agreedAtMs = now;
    const lag = Math.max(0, now - this.agreedAtMs) / 1000;
    this.gauge.set(lag);
    return lag;
  }
}
