import type { RegionFreshness } from "./region-freshness.js";

/**
 * Expiry per region during a split (docs/topologies.md). A lease is renewed through the node
 * that holds it (the entry's `node`). When that node's region is cut off from this node, the
 * renewals still flow there but cannot reach here, so this node must not conclude the lease
 * lapsed: it judges the lease as of the moment it last heard the region, and neither hides
 * it, nor reports it expired, nor counts it toward self-preservation. Leases held in this
 * node's own region, or in a region that is only partly silent, are judged by the real clock,
 * as are those of a region whose nodes all said they were stopping, or that has been silent
 * past `holdMs` (a region gone for good must not keep its instances forever).
 */
export interface RegionSplitView {
  ownRegion: string;
  regions: Readonly<Record<string, RegionFreshness>>;
  nowMs: number;
  /** How long a silent region's leases are held; 0 holds none. */
  holdMs: number;
}

/** The time a lease held by a node of `holderRegion` is judged against. */
export function regionLeaseClock(holderRegion: string | undefined, view: RegionSplitView): number {
  if (holderRegion === undefined || holderRegion === view.ownRegion) return view.nowMs;
  const region = view.regions[holderRegion];
  if (region === undefined || !isHeld(region, view.holdMs)) return view.nowMs;
  return view.nowMs - region.lastHeardMs;
}

/** The earliest clock any lease is judged against: lookups gather candidates live at it. */
export function earliestRegionLeaseClock(view: RegionSplitView): number {
  let earliest = view.nowMs;
  for (const [name, region] of Object.entries(view.regions)) {
    if (name === view.ownRegion || !isHeld(region, view.holdMs)) continue;
    earliest = Math.min(earliest, view.nowMs - region.lastHeardMs);
  }
  return earliest;
}

/** Whether any region's leases are held now (lookups then take the slower path). */
export function holdsAnyRegion(view: RegionSplitView): boolean {
  return earliestRegionLeaseClock(view) < view.nowMs;
}

function isHeld(region: RegionFreshness, holdMs: number): boolean {
  return region.stale && region.left < region.nodes && region.lastHeardMs <= holdMs;
}
