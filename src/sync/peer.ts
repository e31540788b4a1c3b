/**
 * What a node knows of one peer, from its announcements and from pulling it. The transitions
 * are plain methods with time passed in, so the failure handling is tested without NATS.
 */
export const PEER_STATES = ["healthy", "retrying", "suspect", "left"] as const;
export type PeerStateName = (typeof PEER_STATES)[number];

export class PeerState {
  /** The peer's change-log epoch our cursor belongs to. */
  epoch = "";
  /** We hold every change the peer made up to this seq of `epoch`. */
  cursor = 0;
  /** The newest seq the peer told us about. */
  announcedSeq = 0;
  digest = "";
  count = 0;
  lastSeenMs = 0;
  /** Pull failures in a row. */
  failures = 0;
  totalFailures = 0;
  suspectSinceMs = 0;
  leaving = false;
  pulling = false;
  /** Consecutive quiet periodic announcements showing a different digest though we are caught up. */
  mismatches = 0;
  /** Both sides' seqs at the peer's previous periodic announcement: unchanged means quiet. */
  lastPeriodicSeq = -1;
  ownSeqAtLastPeriodic = -1;
  /** The peer accepts compressed replies to its pulls. */
  accepts: string[] = [];
  lastPullMs = 0;
  lastPullLatencyMs = 0;

  constructor(readonly id: string) {}

  get state(): PeerStateName {
    if (this.leaving) return "left";
    if (this.suspectSinceMs > 0) return "suspect";
    return this.failures > 0 ? "retrying" : "healthy";
  }

  /** Records an announcement; returns true when the peer's epoch changed (our cursor is void). */
  onAnnounce(epoch: string, seq: number, digest: string, count: number, nowMs: number): boolean {
    this.lastSeenMs = nowMs;
    this.leaving = false;
    // A suspect peer that speaks again gets another chance at once.
    this.suspectSinceMs = 0;
    this.digest = digest;
    this.count = count;
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.cursor = 0;
      this.announcedSeq = seq;
      this.mismatches = 0;
      return true;
    }
    if (seq > this.announcedSeq) this.announcedSeq = seq;
    return false;
  }

  /** Our cursor is void (the peer's history is new to us, or digests disagree) and a
   * differential reconciliation must run before incremental pulls resume. */
  reconcilePending = false;

  get behind(): boolean {
    return this.cursor < this.announcedSeq;
  }

  /** Something to fetch from this peer: a reconciliation or changes past our cursor. */
  get needsSync(): boolean {
    return this.reconcilePending || this.behind;
  }

  onPullSuccess(cursor: number, head: number, nowMs: number, latencyMs: number): void {
    this.cursor = cursor;
    if (head > this.announcedSeq) this.announcedSeq = head;
    this.failures = 0;
    this.suspectSinceMs = 0;
    this.lastPullMs = nowMs;
    this.lastPullLatencyMs = latencyMs;
  }

  /** Counts a failed pull; returns true when the peer just became suspect. */
  onPullFailure(nowMs: number, suspectAfter: number): boolean {
    this.failures++;
    this.totalFailures++;
    if (this.failures >= suspectAfter && this.suspectSinceMs === 0) {
      this.suspectSinceMs = nowMs;
      return true;
    }
    return false;
  }

  /** The peer's history restarted: pull everything again from the start of `epoch`. */
  reset(epoch: string, head: number): void {
    this.epoch = epoch;
    this.cursor = 0;
    this.announcedSeq = head;
  }

  isAlive(nowMs: number, livenessMs: number): boolean {
    return !this.leaving && nowMs - this.lastSeenMs <= livenessMs;
  }
}
