import type { Logger } from "pino";
import type { ChangeEvent, Entry, RegistryStore, SelfPreservation } from "../core/mod.js";
import type { NodeMetrics } from "./metrics.js";

export interface LeaseExpiryDependencies {
  store: RegistryStore;
  preservation: SelfPreservation;
  metrics: NodeMetrics;
  log: Logger;
  nodeId: string;
  wallClock: () => number;
  sweepIntervalMs: number;
  /** Publishes an `expired` change event. */
  publish: (event: ChangeEvent) => void;
  /** Ids of the peers this node currently hears from. */
  livePeers: (nowMs: number) => readonly string[];
  /** Drops collected entries from durable storage. */
  forget: (removed: readonly Entry[]) => void;
}

/**
 * Lease expiry for one node: the periodic sweep that notices lapsed leases and collects old
 * entries, the reporting of `expired` events, and the self-preservation freeze around both.
 */
export class LeaseExpiry {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: LeaseExpiryDependencies) {}

  start(): void {
    this.timer = setInterval(() => this.sweep(), this.deps.sweepIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Reports expired leases: each expiry is published once, by the node that holds the lease, or
   * when that node is gone by the survivor with the smallest id, so exactly one node speaks.
   */
  sweep(): void {
    const { store, preservation, metrics, log } = this.deps;
    const now = this.deps.wallClock();
    if (preservation.active) {
      this.checkRecovery(now);
      return;
    }
    const { expired, removed } = store.sweep(now);
    this.deps.forget(removed);
    const change = preservation.observeLapses(now, expired.length, store.liveLeases);
    if (change === "activated") {
      // The lapses just seen are the start of the burst: they come back with the frozen clock.
      metrics.selfPreservation.set(1);
      log.warn(
        {
          lapsed: expired.length,
          live: store.liveLeases,
          frozenAt: preservation.leaseClock(now),
        },
        "self-preservation: too many leases lapsing at once, likely a network failure; expiry paused",
      );
      return;
    }
    this.reportExpiries(expired, now);
  }

  /** While expiry is paused, thaw once most leases are being renewed again. */
  private checkRecovery(now: number): void {
    const { store, preservation } = this.deps;
    const frozenAt = preservation.leaseClock(now);
    const { removed } = store.sweep(frozenAt, true);
    this.deps.forget(removed);
    const { live, lapsed } = store.leaseHealth(frozenAt, now);
    if (preservation.observeRecovery(lapsed, live) === "deactivated") {
      this.deps.metrics.selfPreservation.set(0);
      this.deps.log.warn({ live, lapsed }, "self-preservation: renewals recovered; expiry resumed");
    }
  }

  private reportExpiries(expired: readonly Entry[], now: number): void {
    if (expired.length === 0) return;
    const live = new Set(this.deps.livePeers(now));
    const self = this.deps.nodeId;
    const survivor = [self, ...live].sort()[0];
    for (const entry of expired) {
      const owner = entry.node;
      if (owner === self || (!live.has(owner) && survivor === self)) {
        this.deps.publish({ type: "expired", entry });
      }
    }
  }
}
