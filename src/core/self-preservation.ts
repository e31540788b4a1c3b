/**
 * Self-preservation, after Eureka: when leases lapse faster than services plausibly die, the
 * cause is almost always the network (clients cut off from NATS, a partition), and expiring them
 * would empty the registry exactly when consumers need it. So the node freezes its lease clock
 * at the moment the burst is noticed: lookups, renewals and expiry all judge leases as of then
 * (no jump back: what was hidden stays hidden, what was visible stays visible), renewals still
 * extend leases, and nothing is reported expired until the clock thaws.
 *
 * Only leases renewed at least once count, in the trigger and in the thaw: a lease that was
 * never renewed says nothing about the network when it lapses, so short-lived jobs and a client
 * registering many short junk leases can neither trip a freeze nor hold one.
 *
 * The clock thaws when renewals recover (the overdue share falls under half the threshold),
 * when the lapsed set stops growing for a window (the failure is over, or it is not a network
 * failure at all), or at the latest after `maxFreezeMs`.
 */
export interface SelfPreservationSettings {
  /** Share (0–1) of live leases lapsing within one window that triggers the freeze; 0 disables. */
  threshold: number;
  /** The renewal window, in ms: how far back lapses are counted, and how long the overdue set
   * must stay the same size before the freeze thaws. */
  windowMs: number;
  /** Below this many renewed leases, lapses are never treated as a network failure. */
  minLeases: number;
  /** The longest a freeze may last, in ms. */
  maxFreezeMs: number;
}

export type PreservationChange = "activated" | "deactivated" | undefined;

/** Why a freeze ended. */
export type ThawReason = "recovered" | "stable" | "timeout";

export class SelfPreservation {
  /** Times at which recent lapses were observed, oldest first. */
  private lapses: number[] = [];
  private frozenAtMs: number | undefined;
  /** While frozen: the most leases seen overdue, and when that number last grew. */
  private mostOverdue = 0;
  private grewAtMs = 0;
  /** Why the last freeze ended. */
  lastThaw: ThawReason | undefined;

  constructor(private readonly settings: SelfPreservationSettings) {}

  get active(): boolean {
    return this.frozenAtMs !== undefined;
  }

  /** When the current freeze began (undefined when not frozen). */
  get frozenAt(): number | undefined {
    return this.frozenAtMs;
  }

  /**
   * While frozen, recovery is measured over the leases live one window before the freeze: the
   * burst that tripped it lapsed in that window, and must count as overdue until renewed.
   */
  recoveryBase(): number | undefined {
    return this.frozenAtMs === undefined ? undefined : this.frozenAtMs - this.settings.windowMs;
  }

  /** The time leases are judged against: the real time, or the moment the freeze began. */
  leaseClock(nowMs: number): number {
    return this.frozenAtMs ?? nowMs;
  }

  /**
   * Called after each sweep while not frozen, with how many renewed leases just lapsed and how
   * many are still live. Returns "activated" when the freeze begins.
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
    this.frozenAtMs = nowMs;
    this.mostOverdue = 0;
    this.grewAtMs = nowMs;
    this.lapses = [];
    return "activated";
  }

  /**
   * Called after each sweep while frozen, with how many of the renewed leases live at
   * `recoveryBase()` are now overdue by the real clock. Returns "deactivated" when the freeze ends (`lastThaw`
   * says why).
   */
  observeRecovery(nowMs: number, overdue: number, liveAtFreeze: number): PreservationChange {
    if (this.frozenAtMs === undefined) return undefined;
    if (overdue > this.mostOverdue) {
      this.mostOverdue = overdue;
      this.grewAtMs = nowMs;
    }
    const share = liveAtFreeze === 0 ? 0 : overdue / liveAtFreeze;
    let reason: ThawReason | undefined;
    if (share < this.settings.threshold / 2) reason = "recovered";
    else if (nowMs - this.frozenAtMs >= this.settings.maxFreezeMs) reason = "timeout";
    else if (nowMs - this.grewAtMs >= this.settings.windowMs) reason = "stable";
    if (reason === undefined) return undefined;
    this.frozenAtMs = undefined;
    this.lastThaw = reason;
    return "deactivated";
  }
}
