/**
 * How current a node is with respect to each region (docs/topologies.md): the time since it
 * last heard any node of that region, and whether that is past the liveness bound (`stale`).
 * A client that gets an answer during a region split can tell from it that the other region's
 * instances and leases are as of `lastHeardMs` ago.
 */

/** What a node knows of one peer, for this purpose. */
export interface RegionPeer {
  region: string | undefined;
  /** When the peer last announced (ms, the node's wall clock). */
  lastSeenMs: number;
  /** The peer said it was stopping. */
  leaving: boolean;
  /** We hold every change the peer announced. */
  caughtUp: boolean;
}

export interface RegionFreshness {
  /** Nodes of the region this node knows, itself included for its own region. */
  nodes: number;
  /** Of those, the ones heard within the liveness bound. */
  live: number;
  /** Of those, the ones that said they were stopping (a region that left, not one cut off). */
  left: number;
  /** Time since any node of the region was last heard; 0 for the node's own region. */
  lastHeardMs: number;
  /** No node of the region heard within the liveness bound: its data may be out of date. */
  stale: boolean;
  /** Every live node of the region has had all its announced changes pulled. */
  caughtUp: boolean;
}

export function regionFreshness(
  ownRegion: string,
  peers: Iterable<RegionPeer>,
  nowMs: number,
  livenessMs: number,
): Record<string, RegionFreshness> {
  const regions = new Map<string, RegionFreshness & { lastSeenMs: number }>();
  regions.set(ownRegion, {
    nodes: 1,
    live: 1,
    left: 0,
    lastHeardMs: 0,
    stale: false,
    caughtUp: true,
    lastSeenMs: nowMs,
  });
  for (const peer of peers) {
    if (peer.region === undefined) continue;
    let region = regions.get(peer.region);
    if (region === undefined) {
      region = {
        nodes: 0,
        live: 0,
        left: 0,
        lastHeardMs: 0,
        stale: true,
        caughtUp: true,
        lastSeenMs: 0,
      };
      regions.set(peer.region, region);
    }
    region.nodes++;
    if (peer.leaving) region.left++;
    const live = !peer.leaving && nowMs - peer.lastSeenMs <= livenessMs;
    if (live) {
      region.live++;
      if (!peer.caughtUp) region.caughtUp = false;
    }
    if (peer.lastSeenMs > region.lastSeenMs) region.lastSeenMs = peer.lastSeenMs;
  }
  const out: Record<string, RegionFreshness> = {};
  for (const [name, { lastSeenMs, ...region }] of [...regions].sort(([a], [b]) =>
    a < b ? -1 : 1,
  )) {
    const lastHeardMs = name === ownRegion ? 0 : Math.max(0, nowMs - lastSeenMs);
    out[name] = { ...region, lastHeardMs, stale: name !== ownRegion && region.live === 0 };
  }
  return out;
}
