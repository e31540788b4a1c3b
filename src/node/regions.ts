import {
  type Entry,
  earliestRegionLeaseClock,
  leaseEnd,
  type RegionFreshness,
  type RegionSplitView,
  regionFreshness,
  regionLeaseClock,
} from "../core/mod.js";
import type { PeerState } from "../sync/peer.js";

/** What a node's regions read of the sync engine: its peers and how long one stays live. */
export interface PeerDirectory {
  readonly peers: {
    get(id: string): PeerState | undefined;
    values(): Iterable<PeerState>;
  };
  livenessMs(): number;
}

/** What the client API needs of a node's regions (NodeRegions; tests give a fixed view). */
export interface ApiRegions {
  readonly region: string;
  readonly regionOfNode: (node: string) => string | undefined;
  freshness(): Record<string, RegionFreshness>;
  splitView(): RegionSplitView;
  leaseClockOf(entry: Entry, view: RegionSplitView, leaseClock: number): number;
  earliestLeaseClock(view: RegionSplitView, leaseClock: number): number;
}

/**
 * A node's view of the regions (docs/topologies.md): its own, its peers' (from their
 * announcements), how current it is with each, and which leases a region split holds. The
 * decisions are the pure functions of src/core/region*.ts; this class feeds them the peers.
 */
export class NodeRegions implements ApiRegions {
  /** Leases the sweep saw lapse that a split holds: reported once the hold ends, unless renewed. */
  private readonly held = new Set<Entry>();

  constructor(
    readonly region: string,
    private readonly nodeId: string,
    private readonly sync: PeerDirectory,
    private readonly holdMs: number,
    private readonly wallClock: () => number,
  ) {}

  readonly regionOfNode = (node: string): string | undefined =>
    node === this.nodeId ? this.region : this.sync.peers.get(node)?.region;

  /** How current this node is with every region it knows. */
  freshness(nowMs = this.wallClock()): Record<string, RegionFreshness> {
    const peers = [...this.sync.peers.values()].map((peer) => ({
      region: peer.region,
      lastSeenMs: peer.lastSeenMs,
      leaving: peer.state === "left",
      caughtUp: !peer.needsSync,
    }));
    return regionFreshness(this.region, peers, nowMs, this.sync.livenessMs());
  }

  splitView(nowMs = this.wallClock()): RegionSplitView {
    return { ownRegion: this.region, regions: this.freshness(nowMs), nowMs, holdMs: this.holdMs };
  }

  /** The time `entry`'s lease is judged against, never later than `leaseClock`. */
  leaseClockOf(entry: Entry, view: RegionSplitView, leaseClock: number): number {
    return Math.min(leaseClock, regionLeaseClock(this.regionOfNode(entry.node), view));
  }

  /** The earliest time any lease is judged against: lookups gather candidates live then. */
  earliestLeaseClock(view: RegionSplitView, leaseClock: number): number {
    return Math.min(leaseClock, earliestRegionLeaseClock(view));
  }

  /**
   * Of the leases a sweep just saw lapse, those this node may report expired now, plus the
   * ones held earlier whose hold has ended; the rest are kept until their region is heard
   * again (a renewal then replaces them) or the hold ends.
   */
  settleExpiries(expired: readonly Entry[], nowMs = this.wallClock()): Entry[] {
    if (expired.length === 0 && this.held.size === 0) return [];
    const view = this.splitView(nowMs);
    const report = new Set<Entry>();
    for (const entry of this.held) {
      // A renewal or a delete since the lapse replaced the entry's state.
      if (!entry.expiredSeen || entry.body === null) this.held.delete(entry);
      else if (leaseEnd(entry) <= regionLeaseClock(this.regionOfNode(entry.node), view)) {
        this.held.delete(entry);
        report.add(entry);
      }
    }
    for (const entry of expired) {
      if (report.has(entry)) continue;
      if (leaseEnd(entry) > regionLeaseClock(this.regionOfNode(entry.node), view))
        this.held.add(entry);
      else report.add(entry);
    }
    return [...report];
  }

  /** Lapsed leases held for a silent region now. */
  get heldLeases(): number {
    return this.held.size;
  }
}
