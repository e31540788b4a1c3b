import type { EntryRecord } from "../core/mod.js";
import type { Announce } from "./messages.js";
import { PEER_STATES, PeerState, type PeerStateName } from "./peer.js";

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
  /** The announcement's inline changes continue our cursor: apply them, then `afterInline`. */
  | { type: "apply-inline"; records: readonly EntryRecord[] }
  /** Something to fetch: run the peer's pull loop (it reconciles first when pending). */
  | { type: "sync"; mismatch?: true };

/**
 * Every peer this node has heard of, and the announce policy as pure transitions: an
 * announcement and our own state in, the peer's new state and the actions to take out.
 */
export class PeerTable {
  readonly #peers = new Map<string, PeerState>();

  constructor(saved: ReadonlyMap<string, { epoch: string; cursor: number }> = new Map()) {
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
  ): { peer: PeerState; created: boolean; actions: PeerAction[] } {
    const created = !this.#peers.has(announce.node);
    const peer = this.#peers.get(announce.node) ?? new PeerState(announce.node);
    if (created) this.#peers.set(peer.id, peer);
    if (announce.leaving) {
      peer.onLeaving(nowMs);
      return { peer, created, actions: [] };
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
    // Applied in one batch when the running inline apply commits (see PeerState.queueInline).
    if (
      inline !== undefined &&
      announce.from !== undefined &&
      !epochChanged &&
      peer.queueInline(announce.from, announce.seq, inline)
    )
      return { peer, created, actions };
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
      forgotten.push(id);
    }
    return forgotten;
  }
}
