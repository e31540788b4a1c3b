import type { Logger } from "pino";
import {
  type ChangeEvent,
  type Entry,
  entryKey,
  heldLeaseEnd,
  type RegistryStore,
  renderInstance,
  type SelfPreservation,
  wasRenewed,
} from "../core/mod.js";
import type { NodeMetrics } from "./metrics.js";

export interface LeaseExpiryDependencies {
  store: RegistryStore;
  preservation: SelfPreservation;
  metrics: NodeMetrics;
  log: Logger;
  nodeId: string;
  wallClock: () => number;
  sweepIntervalMs: number;
  /** The bound on a freeze, for logs and metrics. */
  maxFreezeMs: number;
  /** Whether the node has caught up with its peers: before that it reports nothing. */
  ready: () => boolean;
  /** Makes the expiry tombstones durable before their events are published. */
  commit: (entries: readonly Entry[]) => Promise<void>;
  /** Publishes an `expired` change event and announces the tombstone to peers. */
  onExpired: (event: ChangeEvent, instanceJson: string) => void;
  /** Ids of the peers this node currently hears from. */
  livePeers: (nowMs: number) => readonly string[];
  /** Drops collected entries from durable storage. */
  forget: (removed: readonly Entry[]) => void;
  /**
   * Of the leases that lapsed, those this node may treat as lapsed now, plus held ones released
   * since (a region split holds a silent region's leases; docs/topologies.md). Default: all.
   */
  settleLapses?: (lapsed: readonly Entry[], nowMs: number) => readonly Entry[];
}

/** A lapsed lease not yet reported, and the version that lapsed. */
interface Lapsed {
  entry: Entry;
  hlc: number;
  node: string;
}

/**
 * Lease expiry for one node: the periodic sweep that notices lapsed leases and collects old
 * entries, the reporting of `expired` events, and the self-preservation freeze around both.
 *
 * Exactly one report per lapsed lease: the reporter ends the lease with a tombstone, written and
 * made durable before the event is published, and replicated like any write. A lapse stays
 * pending on every node until such a tombstone (or a renewal) replaces the lapsed version, so a
 * node that reported is never asked again, a restarted node finds the tombstone on disk or from
 * its peers before it is ready, and a lapse whose reporter died is taken over. The reporter is
 * the node that last wrote the lease; when that node is gone, the survivor with the smallest id.
 */
export class LeaseExpiry {
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<string, Lapsed>();
  private reporting = false;
  /** When the first sweep found the node ready: lapses before it are not news. */
  private readyAtMs: number | undefined;
  /** The sweep in progress, which stop() waits for: its writes must land before storage closes. */
  private running: Promise<void> | undefined;

  constructor(private readonly deps: LeaseExpiryDependencies) {}

  start(): void {
    this.deps.metrics.selfPreservationMax.set(this.deps.maxFreezeMs / 1000);
    this.timer = setInterval(() => {
      if (this.running !== undefined) return;
      this.running = this.sweep().finally(() => {
        this.running = undefined;
      });
    }, this.deps.sweepIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Lapsed leases waiting for their report (here or by another node). */
  get pendingCount(): number {
    return this.pending.size;
  }

  async sweep(): Promise<void> {
    const { store, preservation, metrics, log } = this.deps;
    const now = this.deps.wallClock();
    if (preservation.active) {
      this.checkRecovery(now);
      return;
    }
    const { expired: lapsed, removed } = store.sweep(now);
    this.deps.forget(removed);
    const expired = this.deps.settleLapses?.(lapsed, now) ?? lapsed;
    for (const entry of expired) this.track(entry);
    // Lapses from before the node was ready happened while it was away (restored from disk, or
    // pulled while catching up): history, not a burst the network is causing now.
    if (!this.deps.ready()) return;
    this.readyAtMs ??= now;
    const since = this.readyAtMs;
    const renewedLapses = expired.filter((e) => wasRenewed(e) && heldLeaseEnd(e) >= since).length;
    const change = preservation.observeLapses(now, renewedLapses, store.renewedLeases);
    if (change === "activated") {
      // The lapses of this sweep stay pending: reported after the thaw if still lapsed.
      metrics.selfPreservation.set(1);
      metrics.selfPreservationFrozen.set(0);
      log.warn(
        {
          lapsed: renewedLapses,
          live: store.renewedLeases,
          frozenAt: now,
          maxFreezeMs: this.deps.maxFreezeMs,
        },
        "self-preservation: too many renewed leases lapsing at once, likely a network failure; expiry paused",
      );
      return;
    }
    await this.report(now);
  }

  /** While expiry is paused: thaw once renewals recover, lapses stop growing, or at the bound. */
  private checkRecovery(now: number): void {
    const { store, preservation, metrics } = this.deps;
    const frozenAt = preservation.leaseClock(now);
    const { removed } = store.sweep(frozenAt, true);
    this.deps.forget(removed);
    const { live, lapsed } = store.leaseHealth(preservation.recoveryBase() ?? frozenAt, now);
    metrics.selfPreservationFrozen.set((now - frozenAt) / 1000);
    if (preservation.observeRecovery(now, lapsed, live) === "deactivated") {
      const reason = preservation.lastThaw ?? "recovered";
      metrics.selfPreservation.set(0);
      metrics.selfPreservationFrozen.set(0);
      metrics.selfPreservationThaws.inc({ reason });
      this.deps.log.warn(
        { live, lapsed, reason, frozenMs: now - frozenAt },
        "self-preservation: expiry resumed; leases still lapsed are reported now",
      );
    }
  }

  private track(entry: Entry): void {
    this.pending.set(entryKey(entry.service, entry.id), {
      entry,
      hlc: entry.hlc,
      node: entry.node,
    });
  }

  /** Reports the pending lapses this node is the reporter of; forgets those settled elsewhere. */
  private async report(now: number): Promise<void> {
    if (this.pending.size === 0 || this.reporting || !this.deps.ready()) return;
    this.reporting = true;
    try {
      const live = new Set(this.deps.livePeers(now));
      const self = this.deps.nodeId;
      const survivor = [self, ...live].sort()[0];
      const events: { event: ChangeEvent; instanceJson: string }[] = [];
      for (const [key, lapsed] of this.pending) {
        const { entry } = lapsed;
        if (entry.hlc !== lapsed.hlc || entry.node !== lapsed.node || entry.body === null) {
          // Renewed, deleted or reported by another node since: nothing to report.
          this.pending.delete(key);
          continue;
        }
        if (heldLeaseEnd(entry) > now) {
          this.pending.delete(key);
          continue;
        }
        const owner = lapsed.node;
        if (owner !== self && (live.has(owner) || survivor !== self)) continue;
        const instanceJson = renderInstance(entry);
        const event = this.deps.store.expire(entry.service, entry.id, lapsed);
        this.pending.delete(key);
        if (event !== undefined) events.push({ event, instanceJson });
      }
      if (events.length === 0) return;
      await this.deps.commit(events.map((e) => e.event.entry));
      for (const { event, instanceJson } of events) this.deps.onExpired(event, instanceJson);
    } catch (error) {
      this.deps.log.warn({ err: error }, "reporting expired leases");
    } finally {
      this.reporting = false;
    }
  }
}
