import type { PeerState } from "./peer.js";
import type { SyncTimers, TimerHandle } from "./timers.js";

/**
 * Every `intervalMs`, gives each suspect peer one more attempt: a suspect peer that stays
 * silent (no announcement clears it) is still retried now and then, so a peer that lost only
 * its announcements, or came back without announcing yet, is pulled from again.
 */
export class SuspectProbe {
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(
    private readonly timers: SyncTimers,
    private readonly intervalMs: number,
    private readonly suspectAfterFailures: number,
    private readonly peers: () => Iterable<PeerState>,
    private readonly retry: (peer: PeerState) => void,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.timers.clearTimeout(this.#timer);
  }

  /** One probe round; public so tests drive it without waiting. */
  probe(): void {
    for (const peer of this.peers()) {
      if (peer.state !== "suspect" || peer.pulling) continue;
      // One attempt: a failure makes the peer suspect again at once.
      peer.probe(this.suspectAfterFailures);
      if (peer.needsSync) this.retry(peer);
    }
  }

  private schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.timers.setTimeout(() => {
      this.probe();
      this.schedule();
    }, this.intervalMs);
  }
}
