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

/** Most keys one round asks about: what one `versions` question may name. */
const MAX_ROUND_KEYS = 512;

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

  /**
   * One round: asks the nodes it hears which version they hold of the lapses this node is the
   * writer of and of the tombstones it owes a report for; ends the lapses every node that
   * answered (a majority of those it knows) still holds as lapsed, and reports the tombstones
   * they all hold. Ending only what the majority has not ended keeps a node that rejoins after a
   * split from ending again a lapse the other side ended and reported while it was away.
   */
  private async report(now: number): Promise<void> {
    if (this.reporting || !this.deps.ready()) return;
    if (this.pending.size === 0 && this.unreported.size === 0) return;
    this.reporting = true;
    try {
      const owed = this.owedStill();
      const toEnd = this.lapsesToEnd(now).slice(0, MAX_ROUND_KEYS - owed.length);
      if (owed.length + toEnd.length === 0) return;
      const keys = [...owed, ...toEnd.map((l) => l.entry)].map((e) => [e.service, e.id] as const);
      const agreed = await this.askAgreement(keys);
      let reported = 0;
      owed.forEach((entry, i) => {
        const key = entryKey(entry.service, entry.id);
        const debt = this.unreported.get(key);
        // Rechecked after the question: the tombstone may have lost meanwhile.
        if (debt === undefined || !holdsVersion(entry, { hlc: debt.hlc, node: this.deps.nodeId }))
          return;
        if (!agreed(i, entry)) return;
        this.unreported.delete(key);
        this.deps.publish({ type: "expired", entry }, debt.instance);
        reported++;
      });
      const ending = toEnd.filter((lapsed, i) => agreed(owed.length + i, lapsed));
      await this.end(ending);
      if (reported > 0) await this.saveUnreported();
    } catch (error) {
      this.deps.log.warn({ err: error }, "reporting expired leases");
    } finally {
      this.reporting = false;
    }
  }

  /**
   * The pending lapses this node writes the tombstone of, while it hears a majority of the
   * nodes it knows (the minority side of a split ends none): the node that last wrote the lease,
   * or when that node is gone the survivor with the smallest id. Lapses renewed, deleted or ended
   * elsewhere meanwhile are dropped.
   */
  private lapsesToEnd(now: number): Lapsed[] {
    if (this.pending.size === 0) return [];
    const live = new Set(this.deps.livePeers(now));
    const known = new Set([...this.deps.knownPeers(), ...live]);
    if (!isMajority(live.size + 1, known.size + 1)) return [];
    const self = this.deps.nodeId;
    const survivor = [self, ...live].sort()[0];
    const mine: Lapsed[] = [];
    for (const [key, lapsed] of this.pending) {
      const { entry } = lapsed;
      if (!holdsVersion(entry, lapsed) || entry.body === null || heldLeaseEnd(entry) > now) {
        this.pending.delete(key);
        continue;
      }
      const owner = lapsed.node;
      if (owner !== self && (live.has(owner) || survivor !== self)) continue;
      mine.push(lapsed);
    }
    return mine;
  }

  /** Ends lapses with tombstones, durable and owed a report before peers hear of them. */
  private async end(lapses: readonly Lapsed[]): Promise<void> {
    const written: Entry[] = [];
    for (const lapsed of lapses) {
      const { entry } = lapsed;
      this.pending.delete(entryKey(entry.service, entry.id));
      const instance = renderInstance(entry);
      const event = this.deps.store.expire(entry.service, entry.id, lapsed);
      if (event === undefined) continue;
      written.push(event.entry);
      this.unreported.set(entryKey(entry.service, entry.id), {
        service: entry.service,
        id: entry.id,
        hlc: event.entry.hlc,
        instance,
      });
    }
    if (written.length === 0) return;
    await this.deps.commit(written);
    await this.saveUnreported();
    this.deps.announce();
  }

  /**
   * The tombstones written here still held here (one replaced by another version lost: its
   * writer owes nothing, the winner's writer reports), at most a round's worth.
   */
  private owedStill(): Entry[] {
    const still: Entry[] = [];
    let dropped = false;
    for (const [key, owed] of this.unreported) {
      const entry = this.deps.store.get(owed.service, owed.id);
      if (entry === undefined || !holdsVersion(entry, { hlc: owed.hlc, node: this.deps.nodeId })) {
        this.unreported.delete(key);
        dropped = true;
      } else if (still.length < MAX_ROUND_KEYS / 2) {
        still.push(entry);
      }
    }
    if (dropped) void this.saveUnreported();
    return still;
  }

  /**
   * Asks which versions of `keys` the nodes hold; resolves with a test of agreement: whether
   * key `i` is held at `version` by every node that answered, and with this node by a majority
   * of the nodes it knows. No node can then hold another version of it where this node cannot
   * hear, and none can write one (lapsesToEnd), so the version is the fleet's.
   */
  private async askAgreement(
    keys: readonly (readonly [string, string])[],
  ): Promise<(i: number, version: { hlc: number; node: string }) => boolean> {
    const held = await this.deps.askVersions(keys);
    const fleet = new Set([this.deps.nodeId, ...this.deps.knownPeers(), ...held.keys()]);
    return (i, version) => {
      let holders = 1;
      for (const versions of held.values()) {
        const v = versions[i];
        if (v === null || v === undefined || v[0] !== version.hlc || v[1] !== version.node)
          return false;
        holders++;
      }
      return isMajority(holders, fleet.size);
    };
  }

  private saveUnreported(): Promise<void> {
    return this.deps.saveUnreported([...this.unreported.values()]).catch((error: unknown) => {
      this.deps.log.warn({ err: error }, "saving the expiries owed a report");
    });
  }
}

/** Whether the entry is still at this version (not renewed, deleted or ended since). */
function holdsVersion(entry: Entry, version: { hlc: number; node: string }): boolean {
  return entry.hlc === version.hlc && entry.node === version.node;
}

/** More than half: two sides of a split cannot both have it. */
function isMajority(part: number, whole: number): boolean {
  return part * 2 > whole;
}
