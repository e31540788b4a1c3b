/**
 * Self-preservation, after Eureka: when leases lapse faster than services plausibly die, the
 * cause is almost always the network (clients cut off from NATS, a partition), and expiring them
 * would empty the registry exactly when consumers need it. So the node freezes its lease clock:
 * lookups and expiry judge leases as of the moment the burst began, renewals still extend them,
 * and the clock thaws once the share of overdue leases falls back under half the threshold.
 */
export interface SelfPreservationSettings {
  /** Share (0–1) of live leases lapsing within one window that triggers the freeze; 0 disables. */
  threshold: number;
  /** The renewal window, in ms: how far back lapses are counted, and how far back the freeze goes. */
  windowMs: number;
  /** Below this many leases, lapses are never treated as a network failure. */
  minLeases: number;
}

export type PreservationChange = "activated" | "deactivated" | undefined;

export class SelfPreservation {
  /** Times at which recent lapses were observed, oldest first. */
  private lapses: number[] = [];
  private frozenAtMs: number | undefined;

  constructor(private readonly settings: SelfPreservationSettings) {}

  get active(): boolean {
    return this.frozenAtMs !== undefined;
  }

  /** The time leases are judged against: the real time, or the moment the freeze went back to. */
  leaseClock(nowMs: number): number {
    return this.frozenAtMs ?? nowMs;
  }

  /**
   * Called after each sweep while not frozen, with the leases that just lapsed and the leases
   * still live. Returns "activated" when the freeze begins.
   */
  observeLapses(nowMs: number, lapsed: number, live: number): PreservationChange {
    if (this.active || this.settings.threshold <= 0) return undefined;
    for (let i = 0; i < lapsed; i++) this.lapses.push(nowMs);
    const windowStart = nowMs - this.settings.windowMs;
    let drop = 0;
    while (drop < this.lapses.length && this.lapses[drop]! < windowStart) drop++;
    if (drop > 0) this.lapses = this.lapses.slice(drop);
    const recent = this.lapses.length;
    const population = live + recent;
    if (population < this.settings.minLeases || recent / population <= this.settings.threshold)
      return undefined;
    this.frozenAtMs = windowStart;
    this.lapses = [];
    return "activated";
  }

  /**
   * Called after each sweep while frozen, with how many of the leases live at the freeze are
   * now overdue by the real clock. Returns "deactivated" once renewals have recovered.
   */
  observeRecovery(overdue: number, liveAtFreeze: number): PreservationChange {
    if (!this.active) return undefined;
    const share = liveAtFreeze === 0 ? 0 : overdue / liveAtFreeze;
    if (share >= this.settings.threshold / 2) return undefined;
    this.frozenAtMs = undefined;
    return "deactivated";
  }
}
