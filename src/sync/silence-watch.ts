import type { PeerState } from "./peer.js";
import type { SyncTimers, TimerHandle } from "./timers.js";

/** How often a node announces while a peer is overdue: a healed partition is noticed within
 * about this long of the route coming back. */
export const SILENT_PEER_ANNOUNCE_MS = 250;
/** A peer silent for longer than this is presumed gone for good (a crash without a leaving
 * announcement); fast announcing stops, and the periodic announcements remain. */
export const SILENT_PEER_GIVE_UP_MS = 5 * 60_000;
/** A peer that heard our writes announces its merged digest within about
 * MERGED_ANNOUNCE_DELAY_MS; one still unheard this long after our writes went out may be cut
 * off from us, even though it is not overdue yet. */
export const ECHO_WINDOW_MS = 1_000;

/**
 * While a peer is overdue (it missed a periodic announcement, so a partition or a crash
 * hides it), or has not been heard within ECHO_WINDOW_MS of an announcement of our own writes
 * (a partition shorter than a period that swallowed them: SWIM's probe and ack, with the
 * peer's merged-digest announcement as the ack, so it costs no message while routes hold),
 * announces every SILENT_PEER_ANNOUNCE_MS instead of every period. Announcements
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

  /** Whether some peer is overdue, or owes us an echo, and is not yet given up on. */
  anyOverdue(nowMs: number): boolean {
    const overdue = this.overdueMs();
    for (const peer of this.peers()) {
      if (peer.state === "left" || peer.lastSeenMs === 0) continue;
      if (within(nowMs - peer.lastSeenMs, overdue)) return true;
      if (peer.echoAwaitedSinceMs > 0 && within(nowMs - peer.echoAwaitedSinceMs, ECHO_WINDOW_MS))
        return true;
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

/** Past `thresholdMs`, and not yet given up on. */
function within(elapsedMs: number, thresholdMs: number): boolean {
  return elapsedMs > thresholdMs && elapsedMs < thresholdMs + SILENT_PEER_GIVE_UP_MS;
}
