import type { HlcTimestamp } from "./hlc.js";

/** How many rejected versions are remembered; the oldest are forgotten first. */
export const REJECTED_VERSIONS_LIMIT = 65_536;

/**
 * Versions this node refused because their writer's clock was too far ahead. A version is
 * judged once, when it first arrives: were it judged again later it would pass once wall time
 * caught up, and a write made early in real time would then overwrite later ones. Bounded in
 * count (oldest forgotten first) and not kept across restarts.
 */
export class RejectedVersions {
  private readonly versions = new Set<string>();

  constructor(private readonly limit = REJECTED_VERSIONS_LIMIT) {}

  get size(): number {
    return this.versions.size;
  }

  add(service: string, id: string, hlc: HlcTimestamp, node: string): void {
    const key = versionKey(service, id, hlc, node);
    if (this.versions.has(key)) return;
    if (this.versions.size >= this.limit) {
      const oldest = this.versions.values().next().value;
      if (oldest !== undefined) this.versions.delete(oldest);
    }
    this.versions.add(key);
  }

  has(service: string, id: string, hlc: HlcTimestamp, node: string): boolean {
    return this.versions.size > 0 && this.versions.has(versionKey(service, id, hlc, node));
  }
}

function versionKey(service: string, id: string, hlc: HlcTimestamp, node: string): string {
  return `${service}/${id}\u0000${hlc}\u0000${node}`;
}
