import type { EntryRecord } from "../core/mod.js";
import type { Announce } from "./messages.js";
import { PEER_STATES, type PeerFreshness, PeerState, type PeerStateName } from "./peer.js";

/** What the peer table needs to know of this node to judge an announcement. */
export interface LocalView {
  seq: number;
  digest: string;
  /** Silence after which a peer that speaks again is "seen again" (see SilenceWatch). */
  overdueMs?: number;
}

/** What the coordinator does after an announcement, in order. */
export type PeerAction =
  /** Announce soon, so a newcomer (or a restarted peer) learns of us within its window. */
  | { type: "answer" }
  /** Our cursor into the peer is void: bootstrap from it or reconcile with it. */
  | { type: "new-history" }
  /** The announcement's inline changes continue our cursor (`continues`: or the inline applies
   * still committing): apply them, then `afterAnnounce`. */
  | { type: "apply-inline"; records: readonly EntryRecord[]; continues?: true }
  /** Something to fetch: run the peer's pull loop (it reconciles first when pending). */
  | { type: "sync"; mismatch?: true };

/** Why an announcement changed nothing; each is counted as a rejection with this reason. */
export type AnnounceRefusal =
  /** Not newer than the last announcement taken from its sender, or of an epoch it has left:
   * a replay (or a leaving of an epoch that is not the current one). */
  | "stale"
  /** A new sender while the table is full (`maxPeers`). */
  | "too_many_peers";

export interface PeerTableLimits {
  /** Peers tracked at most; announcements of further new senders are refused. */
  maxPeers: number;
}

/**
 * Every peer this node has heard of, and the announce policy as pure transitions: an
 * announcement and our own state in, the peer's new state and the actions to take out.
 *
 * Bounded: at most `maxPeers` peers, and a peer silent past the liveness window and a grace
 * period is forgotten (`forgetGone`), so fake node ids cost a refusal each, not memory and CPU
 * for ever. An evicted peer's announcement stamps are kept (bounded too), so a replay of it
 * stays stale.
 */
export class PeerTable {
  readonly #peers = new Map<string, PeerState>();
  readonly #evicted = new Map<string, PeerFreshness>();
  readonly #limits: PeerTableLimits;

  constructor(
    saved: ReadonlyMap<string, { epoch: string; cursor: number }> = new Map(),
    limits: PeerTableLimits = { maxPeers: Number.MAX_SAFE_INTEGER },
  ) {
    this.#limits = limits;
    for (const [id, { epoch, cursor }] of saved)
      this.#peers.set(id, PeerState.resumed(id, epoch, cursor));
  }

  get size(): number {
    return this.#peers.size;
  }

  get(id: string): PeerState | undefined {
    return this.#peers.get(id);
  }

  has(id: string): boolean {
    return this.#peers.has(id);
  }

  values(): IterableIterator<PeerState> {
    return this.#peers.values();
  }

  [Symbol.iterator](): IterableIterator<[string, PeerState]> {
    return this.#peers[Symbol.iterator]();
  }

  /**
   * An announcement from another node (already validated, its inline entries decoded).
   * `created` is true when the peer was unknown until now.
   */
  onAnnounce(
    announce: Announce,
    inline: readonly EntryRecord[] | undefined,
    nowMs: number,
    local: LocalView,
  ): { peer: PeerState; created: boolean; actions: PeerAction[] } | { refused: AnnounceRefusal } {
    const known = this.#peers.get(announce.node);
    const peer = known ?? this.#returning(announce.node);
    if (!peer.isFresh(announce.epoch, announce.at)) return { refused: "stale" };
    if (announce.leaving) {
      // A leaving counts for the current epoch of a peer we track; anything else is stale.
      if (known === undefined || !peer.onLeaving(announce.epoch, announce.at, nowMs))
        return { refused: "stale" };
      return { peer, created: false, actions: [] };
    }
    const created = known === undefined;
    if (created) {
      if (this.#peers.size >= this.#limits.maxPeers) return { refused: "too_many_peers" };
      this.#peers.set(peer.id, peer);
      this.#evicted.delete(peer.id);
    }
    const isNew = peer.lastSeenMs === 0;
    // Back after a partition or a long pause: both sides may have changed unseen.
    const seenAgain =
      !isNew && local.overdueMs !== undefined && nowMs - peer.lastSeenMs > local.overdueMs;
    const epochChanged = peer.onAnnounce(
      announce.epoch,
      announce.seq,
      announce.digest,
      announce.count,
      nowMs,
      announce.accepts,
      announce.at,
      announce.region,
    );
    const actions: PeerAction[] = [];
    if (isNew || epochChanged || seenAgain) actions.push({ type: "answer" });
    if (epochChanged) actions.push({ type: "new-history" });
    else if (seenAgain && !peer.behind && announce.digest !== local.digest) {
      // Caught up with its log, yet different: writes that crossed no route. Reconcile now
      // rather than after two quiet periods.
      peer.requireReconcile();
      actions.push({ type: "sync", mismatch: true });
      return { peer, created, actions };
    }
    if (
      inline !== undefined &&
      announce.from !== undefined &&
      peer.canApplyInline(announce.from, announce.seq)
    ) {
      actions.push({ type: "apply-inline", records: inline });
      return { peer, created, actions };
    }
    // Applied at once, its cursor move queued behind the commits in flight (see
    // PeerState.continueInline). A periodic announcement is not: its digest check must run
    // once what came before it is applied.
    if (
      inline !== undefined &&
      announce.from !== undefined &&
      !epochChanged &&
      announce.periodic !== true &&
      peer.continueInline(announce.from, announce.seq)
    ) {
      actions.push({ type: "apply-inline", records: inline, continues: true });
      return { peer, created, actions };
    }
    actions.push(...this.afterAnnounce(peer, announce.periodic === true, local));
    return { peer, created, actions };
  }

  /**
   * What follows an announcement once its inline changes (if any) are applied: pull what we
   * still lack, or, on a quiet periodic announcement with a different digest, reconcile.
   */
  afterAnnounce(peer: PeerState, periodic: boolean, local: LocalView): PeerAction[] {
    if (peer.behind) return [{ type: "sync" }];
    if (periodic && peer.onQuietCheck(local.seq, local.digest))
      return [{ type: "sync", mismatch: true }];
    return [];
  }

  #returning(id: string): PeerState {
    const stamps = this.#evicted.get(id);
    return stamps === undefined ? new PeerState(id) : PeerState.returning(id, stamps);
  }

  /** Peers that announced within `livenessMs` and did not say they leave. */
  live(nowMs: number, livenessMs: number): PeerState[] {
    return [...this.#peers.values()].filter((p) => p.isAlive(nowMs, livenessMs));
  }

  /** Peers by the state an operator sees (PeerState.stateAt). */
  stateCounts(nowMs: number, livenessMs: number): Record<PeerStateName, number> {
    const counts = Object.fromEntries(PEER_STATES.map((s) => [s, 0])) as Record<
      PeerStateName,
      number
    >;
    for (const peer of this.#peers.values()) counts[peer.stateAt(nowMs, livenessMs)]++;
    return counts;
  }

  /**
   * Drops peers that have been left or silent for longer than `graceMs` (and run no pull), so
   * a fleet that replaced its nodes does not list the old ones forever. A dropped peer that
   * comes back is met as a new one: its history is reconciled, nothing is lost.
   */
  forgetGone(nowMs: number, livenessMs: number, graceMs: number): string[] {
    const forgotten: string[] = [];
    for (const [id, peer] of this.#peers) {
      if (peer.pulling || peer.goneForMs(nowMs, livenessMs) <= graceMs) continue;
      this.#peers.delete(id);
      // Its announcement stamps stay, so a replay of it is still stale.
      this.#evicted.delete(id);
      this.#evicted.set(id, peer.freshness);
      forgotten.push(id);
    }
    while (this.#evicted.size > this.#limits.maxPeers) {
      const oldest = this.#evicted.keys().next().value as string;
      this.#evicted.delete(oldest);
    }
    return forgotten;
  }
}
