import type { PeerState } from "./peer.js";
import type { SyncTimers, TimerHandle } from "./timers.js";

/** How often a node announces while a peer is overdue: a healed partition is noticed within
 * about this long of the route coming back. */
export const SILENT_PEER_ANNOUNCE_MS = 250;
/** A peer silent for longer than this is presumed gone for good (a crash without a leaving
 * announcement); fast announcing stops, and the periodic announcements remain. */
export const SILENT_PEER_GIVE_UP_MS = 5 * 60_000;

/**
 * While a peer is overdue (it missed a periodic announcement, so a partition or a crash
 * hides it), announces every SILENT_PEER_ANNOUNCE_MS instead of every period. Announcements
 * are one small message, so this costs little, and the moment the route comes back the peer
 * hears us, finds us "seen again after silence" and answers at once (peer-table.ts), so both
 * sides resynchronise within a second rather than at the next period.
 */
export class SilenceWatch {
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(
    private readonly timers: SyncTimers,
    /** Silence after which a peer is overdue. */
    private readonly overdueMs: () => number,
    private readonly peers: () => Iterable<PeerState>,
    private readonly announce: () => void,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.timers.clearTimeout(this.#timer);
  }

  /** Whether some peer is overdue but not yet given up on. */
  anyOverdue(nowMs: number): boolean {
    const overdue = this.overdueMs();
    for (const peer of this.peers()) {
      if (peer.state === "left" || peer.lastSeenMs === 0) continue;
      const silence = nowMs - peer.lastSeenMs;
      if (silence > overdue && silence < overdue + SILENT_PEER_GIVE_UP_MS) return true;
    }
    return false;
  }

  private schedule(): void {
    if (this.#stopped) return;
    // Not jittered: the check is local and costs nothing, and only a node with an overdue peer
    // sends anything; drawing from the seeded random source would reshuffle the simulation.
    this.#timer = this.timers.setTimeout(() => {
      if (this.anyOverdue(this.timers.now())) this.announce();
      this.schedule();
    }, SILENT_PEER_ANNOUNCE_MS);
  }
}
