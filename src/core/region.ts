import type { Entry } from "./entry.js";
import { parseBody } from "./instance.js";

/**
 * Regions (docs/topologies.md): a region is a NATS cluster of a supercluster, or a leaf server's
 * cluster. Every node knows its own and learns its peers' from their announcements. What
 * region an instance is in: the `region` it registered with, else the region of the node that
 * accepted its last write (a service talks to the registry nodes of its own region).
 */

/** A region name: what NATS allows in a cluster name, as one bounded token. */
export const REGION_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** The region of a node whose server has no cluster name and whose config names none. */
export const DEFAULT_REGION = "default";

/** A node's region: the configured one, else its NATS server's cluster name, else the default. */
export function resolveRegion(
  configured: string | undefined,
  serverCluster: string | undefined,
): string {
  if (configured !== undefined) return configured;
  if (serverCluster !== undefined && REGION_NAME.test(serverCluster)) return serverCluster;
  return DEFAULT_REGION;
}

/** Looks up a node's region; undefined for a node never heard from or that predates regions. */
export type RegionOfNode = (node: string) => string | undefined;

const REGION_FIELD = '"region":';

/** The region an instance is in (see above); undefined when neither source knows. */
export function instanceRegion(entry: Entry, regionOfNode: RegionOfNode): string | undefined {
  // Most bodies have no region field: a substring test spares them the parse.
  const body = entry.body;
  if (body?.includes(REGION_FIELD)) {
    const region = parseBody(body).region;
    if (region !== undefined) return region;
  }
  return regionOfNode(entry.node);
}

/** `prefer: "region"` ranks the entries in `region` first (0), then the others (1). */
export function regionRank(entry: Entry, region: string, regionOfNode: RegionOfNode): 0 | 1 {
  return instanceRegion(entry, regionOfNode) === region ? 0 : 1;
}

/**
 * `prefer: "region"`: the entries in `region` first, then the others, each part in the order
 * given. Nothing is dropped: a caller whose region has no instance still gets the others.
 */
export function preferRegion(
  entries: readonly Entry[],
  region: string,
  regionOfNode: RegionOfNode,
): Entry[] {
  const near: Entry[] = [];
  const far: Entry[] = [];
  for (const entry of entries)
    (regionRank(entry, region, regionOfNode) === 0 ? near : far).push(entry);
  return near.concat(far);
}
