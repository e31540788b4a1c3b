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
import type { UnreportedExpiry } from "../storage/storage.js";
import type { HeldVersions } from "../sync/versions.js";
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
  /** Makes the expiry tombstones durable before anything else learns of them. */
  commit: (entries: readonly Entry[]) => Promise<void>;
  /** Tells peers about the tombstones just written (announces them). */
  announce: () => void;
  /** Publishes an `expired` change event. */
  publish: (event: ChangeEvent, instanceJson: string) => void;
  /** Ids of the peers this node currently hears from. */
  livePeers: (nowMs: number) => readonly string[];
  /** Ids of every peer this node knows of and that did not leave: heard from or not. */
  knownPeers: () => readonly string[];
  /** Which version of these keys every node that hears the question holds. */
  askVersions: (keys: readonly (readonly [string, string])[]) => Promise<HeldVersions>;
  /** Makes the list of expiries owed an event durable (replacing the previous list). */
  saveUnreported: (unreported: readonly UnreportedExpiry[]) => Promise<void>;
  /** The expiries owed an event when the node last stopped. */
  restoredUnreported?: readonly UnreportedExpiry[];
  /** Drops collected entries from durable storage. */
  forget: (removed: readonly Entry[]) => void;
  /**
   * Of the leases that lapsed, those this node may treat as lapsed now, plus held ones released
   * since (a region split holds a silent region's leases; docs/topologies.md). Default: all.
   */
  settleLapses?: (lapsed: readonly Entry[], nowMs: number) => readonly Entry[];
}

/** A lapsed lease not yet ended by a tombstone, and the version that lapsed. */
interface Lapsed {
  entry: Entry;
  hlc: number;
  node: string;
}

/** Most expiries confirmed in one round: what one `versions` question may name. */
const MAX_CONFIRM_KEYS = 512;

/**
 * Lease expiry for one node: the periodic sweep that notices lapsed leases and collects old
 * entries, the reporting of `expired` events, and the self-preservation freeze around both.
 *
 * Exactly one report per lapsed lease (docs/watch.md), in two steps. First a node ends the lapse
 * with a tombstone, written durably and replicated like any write: the node that last wrote the
 * lease, or when that node is gone the survivor with the smallest id, and only while it hears a
 * majority of the nodes it knows (so the minority side of a partition writes none). Then the
 * writer reports the lapse only once its tombstone is the version held by a majority of the known
 * nodes and by every node that answers: the tombstone every node agrees on, by version, picks
 * the reporter, not the liveness views, which differ. A writer whose tombstone lost to another
 * version never reports it. What is owed is saved, so a restart neither forgets nor repeats it,
 * and a node reports nothing before it is ready.
 */
export class LeaseExpiry {
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<string, Lapsed>();
  /** Tombstones this node wrote whose `expired` event is owed, by key. */
  private readonly unreported = new Map<string, UnreportedExpiry>();
  private reporting = false;
  /** When the first sweep found the node ready: lapses before it are not news. */
  private readyAtMs: number | undefined;
  /** The sweep in progress, which stop() waits for: its writes must land before storage closes. */
  private running: Promise<void> | undefined;

  constructor(private readonly deps: LeaseExpiryDependencies) {
    for (const owed of deps.restoredUnreported ?? [])
      this.unreported.set(entryKey(owed.service, owed.id), owed);
  }

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

  /** Lapsed leases waiting for their tombstone (here or from another node). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Tombstones written here whose `expired` event waits for the fleet to agree on them. */
  get unreportedCount(): number {
    return this.unreported.size;
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

  /** Ends the lapses this node is the writer of, then reports the tombstones agreed on. */
  private async report(now: number): Promise<void> {
    if (this.reporting || !this.deps.ready()) return;
    if (this.pending.size === 0 && this.unreported.size === 0) return;
    this.reporting = true;
    try {
      await this.endLapses(now);
      await this.reportAgreed();
    } catch (error) {
      this.deps.log.warn({ err: error }, "reporting expired leases");
    } finally {
      this.reporting = false;
    }
  }

  /**
   * Writes a tombstone for each pending lapse this node is the writer of, while it hears a
   * majority of the nodes it knows: the minority side of a split writes none, so the tombstone
   * the majority reported is not beaten after the heal by one written where nobody could see it.
   */
  private async endLapses(now: number): Promise<void> {
    if (this.pending.size === 0) return;
    const live = new Set(this.deps.livePeers(now));
    const known = new Set([...this.deps.knownPeers(), ...live]);
    if (!isMajority(live.size + 1, known.size + 1)) return;
    const self = this.deps.nodeId;
    const survivor = [self, ...live].sort()[0];
    const written: { entry: Entry; owed: UnreportedExpiry }[] = [];
    for (const [key, lapsed] of this.pending) {
      const { entry } = lapsed;
      if (entry.hlc !== lapsed.hlc || entry.node !== lapsed.node || entry.body === null) {
        // Renewed, deleted or ended by another node since: nothing to end.
        this.pending.delete(key);
        continue;
      }
      if (heldLeaseEnd(entry) > now) {
        this.pending.delete(key);
        continue;
      }
      const owner = lapsed.node;
      if (owner !== self && (live.has(owner) || survivor !== self)) continue;
      const instance = renderInstance(entry);
      const event = this.deps.store.expire(entry.service, entry.id, lapsed);
      this.pending.delete(key);
      if (event === undefined) continue;
      const owed = { service: entry.service, id: entry.id, hlc: event.entry.hlc, instance };
      written.push({ entry: event.entry, owed });
    }
    if (written.length === 0) return;
    await this.deps.commit(written.map((w) => w.entry));
    for (const { owed } of written) this.unreported.set(entryKey(owed.service, owed.id), owed);
    await this.deps.saveUnreported([...this.unreported.values()]);
    this.deps.announce();
  }

  /**
   * Publishes `expired` for the tombstones written here that a majority of the known nodes, and
   * every node that answered, hold: no other version of the key is left anywhere this node can
   * hear, and none can be written where it cannot (endLapses). A tombstone replaced by another
   * version lost: its writer owes nothing, the winner's writer reports.
   */
  private async reportAgreed(): Promise<void> {
    const { store, nodeId } = this.deps;
    let dropped = false;
    const round: { key: string; owed: UnreportedExpiry; entry: Entry }[] = [];
    for (const [key, owed] of this.unreported) {
      const entry = store.get(owed.service, owed.id);
      if (entry === undefined || entry.hlc !== owed.hlc || entry.node !== nodeId) {
        this.unreported.delete(key);
        dropped = true;
        continue;
      }
      if (round.length < MAX_CONFIRM_KEYS) round.push({ key, owed, entry });
    }
    const reported: { event: ChangeEvent; instance: string }[] = [];
    if (round.length > 0) {
      const held = await this.deps.askVersions(round.map((r) => [r.owed.service, r.owed.id]));
      const fleet = new Set([nodeId, ...this.deps.knownPeers(), ...held.keys()]);
      round.forEach(({ key, owed, entry }, i) => {
        let holders = 1;
        for (const versions of held.values()) {
          const version = versions[i];
          if (version === null || version === undefined) return;
          if (version[0] !== owed.hlc || version[1] !== nodeId) return;
          holders++;
        }
        if (!isMajority(holders, fleet.size)) return;
        // Still the tombstone written here: the question took a while.
        if (entry.hlc !== owed.hlc || entry.node !== nodeId || entry.body !== null) return;
        this.unreported.delete(key);
        reported.push({ event: { type: "expired", entry }, instance: owed.instance });
      });
    }
    for (const { event, instance } of reported) this.deps.publish(event, instance);
    if (reported.length > 0 || dropped)
      await this.deps.saveUnreported([...this.unreported.values()]);
  }
}

/** More than half: two sides of a split cannot both have it. */
function isMajority(part: number, whole: number): boolean {
  return part * 2 > whole;
}
