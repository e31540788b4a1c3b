/**
 * What a node knows of one peer, from its announcements and from pulling it. Every field is
 * read-only from outside: the transitions are the methods below, with time passed in, so the
 * failure handling and the mismatch policy are tested without a network.
 */
export const PEER_STATES = ["healthy", "retrying", "suspect", "silent", "left"] as const;
export type PeerStateName = (typeof PEER_STATES)[number];

/** Quiet periodic announcements showing a different digest, though we are caught up, before
 * we resynchronise with the peer. */
export const MISMATCHES_BEFORE_RESYNC = 1;

/**
 * Inline announcements of one peer merged while their commits are on their way to disk. Under
 * load a durable commit outlasts the gap between two announcements: each announcement that
 * continues the last is merged on arrival, so lookups here see a peer's write as soon as it
 * arrives, and its commit joins the next group. Beyond this many in flight we fall back to
 * pulling.
 */
export const MAX_INLINE_IN_FLIGHT = 256;
/** Retired epochs remembered per peer: a node rarely loses its history more than this often
 * within the life of its peers' memory of it. */
const MAX_SUPERSEDED_EPOCHS = 16;

/** A peer's announcement stamps, kept after it is evicted. */
export interface PeerFreshness {
  lastAt: number;
  superseded: readonly string[];
}

export class PeerState {
  #epoch = "";
  #cursor = 0;
  #announcedSeq = 0;
  #digest = "";
  #count = 0;
  #lastSeenMs = 0;
  /** When we announced writes of our own that this peer has not answered since (0: none). */
  #echoAwaitedSinceMs = 0;
  #failures = 0;
  #totalFailures = 0;
  #suspectSinceMs = 0;
  #leaving = false;
  #leftAtMs = 0;
  #pulling = false;
  #mismatches = 0;
  #lastPeriodicSeq = -1;
  #ownSeqAtLastPeriodic = -1;
  #accepts: readonly string[] = [];
  #lastPullMs = 0;
  #lastPullLatencyMs = 0;
  #reconcilePending = false;
  /** While inline applies run: the seq the last of them brings our cursor to. */
  #inlineThrough: number | undefined;
  /** Inline applies merged whose commits have not settled. */
  #inlineInFlight = 0;
  #region: string | undefined;
  /** The sender's clock on the newest announcement taken from it (0: none yet). */
  #lastAt = 0;
  /** Epochs of this peer that a newer one replaced; never accepted again. */
  #superseded: string[] = [];

  constructor(readonly id: string) {}

  /** A peer known from a saved cursor: we hold its changes up to `cursor` of `epoch`. */
  static resumed(id: string, epoch: string, cursor: number): PeerState {
    const peer = new PeerState(id);
    peer.#epoch = epoch;
    peer.#cursor = cursor;
    peer.#announcedSeq = cursor;
    return peer;
  }

  /** The peer's change-log epoch our cursor belongs to. */
  get epoch(): string {
    return this.#epoch;
  }
  /** We hold every change the peer made up to this seq of `epoch`. */
  get cursor(): number {
    return this.#cursor;
  }
  /**
   * We hold the peer's changes up to this seq here, durable or not: the cursor, or beyond it
   * the inline applies merged and still committing. What read-your-writes waits for: a lookup
   * sees a write once it is merged, and a failed commit leaves it merged.
   */
  get heldThrough(): number {
    return Math.max(this.#cursor, this.#inlineThrough ?? 0);
  }
  /** The newest seq the peer told us about. */
  get announcedSeq(): number {
    return this.#announcedSeq;
  }
  get digest(): string {
    return this.#digest;
  }
  get count(): number {
    return this.#count;
  }
  get lastSeenMs(): number {
    return this.#lastSeenMs;
  }
  /** Pull failures in a row. */
  /** Since when we wait for this peer to be heard after announcing our writes (0: not waiting). */
  get echoAwaitedSinceMs(): number {
    return this.#echoAwaitedSinceMs;
  }

  /**
   * We announced writes of our own: a peer that hears them merges them and announces its new
   * digest within moments, so until it is heard again it may not have heard us. The oldest
   * unanswered announcement counts.
   */
  awaitEcho(nowMs: number): void {
    if (this.#echoAwaitedSinceMs === 0) this.#echoAwaitedSinceMs = nowMs;
  }

  get failures(): number {
    return this.#failures;
  }
  get totalFailures(): number {
    return this.#totalFailures;
  }
  get suspectSinceMs(): number {
    return this.#suspectSinceMs;
  }
  /** A pull loop (or an inline apply) is running for this peer; at most one at a time. */
  get pulling(): boolean {
    return this.#pulling;
  }
  /** The peer accepts compressed replies to its pulls. */
  get accepts(): readonly string[] {
    return this.#accepts;
  }
  /** The region the peer announced; undefined until it does (or when it predates regions). */
  get region(): string | undefined {
    return this.#region;
  }
  get lastPullMs(): number {
    return this.#lastPullMs;
  }
  get lastPullLatencyMs(): number {
    return this.#lastPullLatencyMs;
  }
  /** Our cursor is void (the peer's history is new to us, or digests disagree) and a
   * differential reconciliation must run before incremental pulls resume. */
  get reconcilePending(): boolean {
    return this.#reconcilePending;
  }

  get lastAt(): number {
    return this.#lastAt;
  }

  /**
   * Whether an announcement stamped `at` in `epoch` is news: newer than every announcement
   * taken from this peer, and not of an epoch it has left. A replay of any captured
   * announcement fails this, whatever it says, and is dropped before it changes anything.
   */
  isFresh(epoch: string, at: number): boolean {
    return at > this.#lastAt && !this.#superseded.includes(epoch);
  }

  /** Takes the stamp of a fresh announcement; a new epoch retires the current one for good. */
  private stamp(epoch: string, at: number): void {
    this.#lastAt = at;
    if (epoch === this.#epoch || this.#epoch === "") return;
    this.#superseded.push(this.#epoch);
    if (this.#superseded.length > MAX_SUPERSEDED_EPOCHS) this.#superseded.shift();
  }

  /** What must outlive the peer's eviction, so that replays of it stay stale. */
  get freshness(): PeerFreshness {
    return { lastAt: this.#lastAt, superseded: [...this.#superseded] };
  }

  /** A peer heard again after it was evicted: its old stamps still hold. */
  static returning(id: string, freshness: PeerFreshness): PeerState {
    const peer = new PeerState(id);
    peer.#lastAt = freshness.lastAt;
    peer.#superseded = freshness.superseded.slice(-MAX_SUPERSEDED_EPOCHS);
    return peer;
  }

  get state(): PeerStateName {
    if (this.#leaving) return "left";
    if (this.#suspectSinceMs > 0) return "suspect";
    return this.#failures > 0 ? "retrying" : "healthy";
  }

  get behind(): boolean {
    return this.#cursor < this.#announcedSeq;
  }

  /** Something to fetch from this peer: a reconciliation or changes past our cursor. */
  get needsSync(): boolean {
    return this.#reconcilePending || this.behind;
  }

  /** Whether a pull loop may run now: not suspect, not gone. */
  get pullable(): boolean {
    return this.state !== "suspect" && this.state !== "left";
  }

  /**
   * Records an announcement (fresh: `isFresh` said so); returns true when the peer's epoch
   * changed (our cursor is void).
   */
  onAnnounce(
    epoch: string,
    seq: number,
    digest: string,
    count: number,
    nowMs: number,
    accepts: readonly string[] = this.#accepts,
    at = this.#lastAt + 1,
    region: string | undefined = this.#region,
  ): boolean {
    this.stamp(epoch, at);
    this.#lastSeenMs = nowMs;
    this.#echoAwaitedSinceMs = 0;
    this.#leaving = false;
    // A suspect peer that speaks again gets another chance at once.
    this.#suspectSinceMs = 0;
    this.#digest = digest;
    this.#count = count;
    this.#accepts = accepts;
    this.#region = region;
    if (epoch !== this.#epoch) {
      // Inline applies still committing continue the old history: none follows them.
      this.#inlineThrough = undefined;
      this.#epoch = epoch;
      this.#cursor = 0;
      this.#announcedSeq = seq;
      this.#mismatches = 0;
      return true;
    }
    if (seq > this.#announcedSeq) this.#announcedSeq = seq;
    return false;
  }

  /** The peer said it is stopping; only its current epoch can say so. */
  onLeaving(epoch: string, at: number, nowMs = 0): boolean {
    if (epoch !== this.#epoch) return false;
    this.#lastAt = at;
    this.#leaving = true;
    this.#leftAtMs = nowMs;
    return true;
  }

  /**
   * The state an operator sees, with liveness: `left` (it said it stops), `silent` (no
   * announcement within `livenessMs`: killed, partitioned or hung), else the pull state
   * (`suspect`, `retrying`, `healthy`). A peer that was never heard from, only known from a
   * saved cursor, is silent.
   */
  stateAt(nowMs: number, livenessMs: number): PeerStateName {
    if (this.#leaving) return "left";
    if (!this.isAlive(nowMs, livenessMs)) return "silent";
    return this.state;
  }

  /** How long the peer has been left or silent at `nowMs`; 0 while it is alive. */
  goneForMs(nowMs: number, livenessMs: number): number {
    if (this.#leaving) return Math.max(0, nowMs - this.#leftAtMs);
    if (this.isAlive(nowMs, livenessMs)) return 0;
    return Math.max(0, nowMs - this.#lastSeenMs - livenessMs);
  }

  /** Claims the peer for one pull loop or inline apply; false when one already runs. */
  beginPulling(): boolean {
    if (this.#pulling) return false;
    this.#pulling = true;
    return true;
  }

  endPulling(): void {
    this.#pulling = false;
    this.#inlineThrough = undefined;
    this.#inlineInFlight = 0;
  }

  /** Claims the peer for an inline apply that brings our cursor to `seq`; see `beginPulling`. */
  beginInline(seq: number): boolean {
    if (!this.beginPulling()) return false;
    this.#inlineThrough = seq;
    this.#inlineInFlight = 1;
    return true;
  }

  /**
   * Whether an announcement's inline changes covering (from, seq] continue the inline applies
   * running, where the last of them ends: then they are applied at once, after it. False when
   * they do not, or MAX_INLINE_IN_FLIGHT are in flight, and the caller falls back to pulling.
   */
  continueInline(from: number, seq: number): boolean {
    const through = this.#inlineThrough;
    if (through === undefined || from > through || seq <= through) return false;
    if (this.#inlineInFlight >= MAX_INLINE_IN_FLIGHT) return false;
    this.#inlineThrough = seq;
    this.#inlineInFlight++;
    return true;
  }

  /** One inline apply's commit settled, durable or failed. */
  inlineSettled(): void {
    if (this.#inlineInFlight > 0) this.#inlineInFlight--;
  }

  /** Inline changes covering (from, seq] apply only when our cursor sits inside that range. */
  canApplyInline(from: number, seq: number): boolean {
    return !this.#pulling && this.#cursor >= from && this.#cursor < seq;
  }

  /** We hold the peer's changes up to `seq` of `epoch`; false when that moves nothing. */
  advanceTo(epoch: string, seq: number): boolean {
    if (epoch !== this.#epoch || seq <= this.#cursor) return false;
    this.#cursor = seq;
    return true;
  }

  onPullSuccess(cursor: number, head: number, nowMs: number, latencyMs: number): void {
    this.#cursor = cursor;
    if (head > this.#announcedSeq) this.#announcedSeq = head;
    this.#failures = 0;
    this.#suspectSinceMs = 0;
    this.#lastPullMs = nowMs;
    this.#lastPullLatencyMs = latencyMs;
  }

  /** Counts a failed pull; returns true when the peer just became suspect. */
  onPullFailure(nowMs: number, suspectAfter: number): boolean {
    this.#failures++;
    this.#totalFailures++;
    if (this.#failures >= suspectAfter && this.#suspectSinceMs === 0) {
      this.#suspectSinceMs = nowMs;
      return true;
    }
    return false;
  }

  /** The peer's history restarted: pull everything again from the start of `epoch`. */
  reset(epoch: string, head: number): void {
    this.#epoch = epoch;
    this.#cursor = 0;
    this.#announcedSeq = head;
  }

  /** A differential reconciliation must run before incremental pulls resume. */
  requireReconcile(): void {
    this.#reconcilePending = true;
  }

  /** This peer streams the full state to us (a bootstrap): no reconciliation first. */
  skipReconcile(): void {
    this.#reconcilePending = false;
  }

  onReconciled(): void {
    this.#reconcilePending = false;
    this.#failures = 0;
  }

  /** One probe of a suspect peer: a single attempt, whose failure makes it suspect again. */
  probe(suspectAfter: number): void {
    this.#suspectSinceMs = 0;
    this.#failures = suspectAfter - 1;
  }

  /**
   * A periodic announcement arrived while we hold everything the peer announced: returns true
   * when the digests differ though nothing changed on either side since the peer's previous
   * periodic announcement, for the MISMATCHES_BEFORE_RESYNC-th time in a row. Then something
   * was lost (a collected entry, a rejected batch, a write that reached us only through a peer
   * that died) and only a reconciliation repairs it.
   */
  onQuietCheck(ownSeq: number, ownDigest: string): boolean {
    const quiet =
      this.#announcedSeq === this.#lastPeriodicSeq && ownSeq === this.#ownSeqAtLastPeriodic;
    this.#lastPeriodicSeq = this.#announcedSeq;
    this.#ownSeqAtLastPeriodic = ownSeq;
    if (this.#digest === ownDigest || !quiet) {
      this.#mismatches = 0;
      return false;
    }
    if (++this.#mismatches < MISMATCHES_BEFORE_RESYNC) return false;
    this.#mismatches = 0;
    this.#reconcilePending = true;
    return true;
  }

  isAlive(nowMs: number, livenessMs: number): boolean {
    return !this.#leaving && nowMs - this.#lastSeenMs <= livenessMs;
  }
}
