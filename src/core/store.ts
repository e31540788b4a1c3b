import { ChangeLog } from "./change-log.js";
import { DueQueue } from "./due-queue.js";
import {
  assignEntry,
  type Entry,
  type EntryRecord,
  type EntryState,
  estimateRecordBytes,
  heldLeaseEnd,
  leaseEnd,
  newEntry,
  wasRenewed,
} from "./entry.js";
import { Hlc, type HlcTimestamp, hlcWall } from "./hlc.js";
import { type Instance, instanceBody, type Status } from "./instance.js";
import { internTable } from "./intern.js";
import { KeyTable } from "./key-table.js";
import { type LookupQuery, matchesQuery } from "./lookup.js";
import { type ConflictResolution, type EntryOrder, entryOrder } from "./merge.js";
import { assignKeyHash, type KeyHashed } from "./reconcile/key-hash.js";
import { ReconIndex } from "./reconcile/recon-index.js";
import { RejectedVersions } from "./rejected-versions.js";
import { ServiceGroups } from "./service-groups.js";

export const CHANGE_TYPES = ["registered", "updated", "deregistered", "expired"] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

/** A change for the node to publish on `registry.changes.<service>`. */
export interface ChangeEvent {
  type: ChangeType;
  entry: Entry;
}

export interface RegistryStoreOptions {
  nodeId: string;
  /** Identifies this history of the change log; a new epoch tells peers their cursors are void. */
  epoch: string;
  /** Wall clock in ms; injected so the core has no hidden time source. */
  wallClock: () => number;
  /** A peer's version more than this far ahead of our wall clock is rejected, for good. */
  maxClockSkewMs: number;
  /** How far a peer's version may move our clock, and its leases, past our wall clock. */
  maxClockDriftMs?: number;
  /** How long tombstones and expired leases are kept before they are collected; must outlast the
   * longest partition, or a node that was cut off longer could bring a deleted entry back. */
  tombstoneTtlMs: number;
  conflictResolution?: ConflictResolution;
}

export interface MergeResult {
  /** Entries whose state changed, in the order they were applied. */
  applied: Entry[];
  /** Records older than or equal to what the store holds. */
  stale: number;
  /** Records rejected because their version is too far ahead of our clock. */
  rejectedSkew: number;
  /** Records already past their grace period: never adopted again once collected. */
  rejectedExpired: number;
}

export interface ChangesPage {
  records: Entry[];
  /** Resume from here; equals `head` when the page reached the end of the log. */
  cursor: number;
  complete: boolean;
}

export interface ChangesOptions {
  /** Skip entries written by this node: the puller already has its own writes. */
  excludeNode?: string;
  /** Only entries written by this node (announcements carry a node's own writes). */
  onlyNode?: string;
  maxEntries: number;
  maxBytes: number;
}

export interface SweepResult {
  /** Leases that passed since the last sweep (each reported once per node). */
  expired: Entry[];
  /** Tombstones and expired leases removed after their grace period. */
  collected: number;
  /** The entries removed, for durable storage to forget them too. */
  removed: Entry[];
}

/**
 * The registry replica: a map `<service>/<id>` → entry, with local writes, merges of peers'
 * entries, lookups, the change log and the state digest. Pure: time comes in as arguments or
 * through the injected wall clock, and nothing here touches the network or the disk.
 */
export class RegistryStore {
  readonly nodeId: string;
  readonly epoch: string;
  readonly clock: Hlc;
  /** Entries by key (see key-table.ts). */
  private readonly byKey = new KeyTable<Entry>();
  private readonly services = new ServiceGroups<Entry>();
  /** The key hash of the key `get` looked up last: `write` gives it to a new entry rather than
   * hashing the key again (register and merge look a key up just before writing it). */
  private readonly lastKey: KeyHashed = { k0: 0, k1: 0 };
  private readonly log = new ChangeLog<Entry>();
  private readonly due = new DueQueue<Entry>();
  /** Range fingerprints over (key hash, entry hash) for differential reconciliation. */
  readonly reconIndex = new ReconIndex<Entry>();
  private readonly order: EntryOrder;
  private readonly tombstoneTtlMs: number;
  /** Versions refused for clock skew: refused again whenever they come back. */
  private readonly rejected = new RejectedVersions();
  private leases = 0;
  /** Of those, leases renewed at least once since registered (self-preservation's population). */
  private renewed = 0;

  constructor(options: RegistryStoreOptions) {
    this.nodeId = options.nodeId;
    this.epoch = options.epoch;
    this.clock = new Hlc(options.wallClock, options.maxClockSkewMs, options.maxClockDriftMs);
    this.tombstoneTtlMs = options.tombstoneTtlMs;
    this.order = entryOrder(options.conflictResolution ?? "lww");
  }

  /** Instances whose lease this node has not seen pass (self-preservation's population). */
  get liveLeases(): number {
    return this.leases;
  }

  /**
   * Live leases renewed at least once. Self-preservation counts only these: a lease that was
   * never renewed proves nothing about the network when it lapses (short-lived jobs, a client
   * registering junk), so it can neither trip nor hold a freeze.
   */
  get renewedLeases(): number {
    return this.renewed;
  }

  /**
   * Of the leases that were live at `since`, how many have lapsed by `now`: what
   * self-preservation watches to tell when renewals have recovered. O(N), run only while
   * expiry is paused.
   */
  leaseHealth(since: number, now: number): { live: number; lapsed: number } {
    let live = 0;
    let lapsed = 0;
    for (const entry of this.entries()) {
      if (entry.body === null || !wasRenewed(entry)) continue;
      const end = heldLeaseEnd(entry);
      if (end <= since) continue;
      live++;
      if (end <= now) lapsed++;
    }
    return { live, lapsed };
  }

  /** Entries held, tombstones and expired leases included (the digest's `count`). */
  get size(): number {
    return this.reconIndex.size;
  }

  get seq(): number {
    return this.log.head;
  }

  digest(): { digest: string; count: number } {
    return this.reconIndex.digest();
  }

  get(service: string, id: string): Entry | undefined {
    const key = this.lastKey;
    assignKeyHash(key, service, id);
    return this.byKey.find(service, id, key.k0);
  }

  /** Registers or replaces an instance; the new lease starts now. `leaseNow`: the lease clock
   * (self-preservation may hold it back), which tells a replacement from a new registration. */
  register(instance: Instance, leaseNow = this.clock.wall()): ChangeEvent {
    const existing = this.get(instance.service, instance.id);
    const hlc = this.clock.after(existing?.hlc ?? 0);
    const live = existing !== undefined && this.isLive(existing, leaseNow);
    const record: EntryState = {
      service: instance.service,
      id: instance.id,
      hlc,
      node: this.nodeId,
      body: instanceBody(instance),
      status: instance.status,
      ver: internVersion(instance.version ?? ""),
      ttlMs: instance.ttlMs,
      registeredAt: live && existing ? existing.registeredAt : hlcWall(hlc),
    };
    const entry = this.write(existing, record);
    return { type: live ? "updated" : "registered", entry };
  }

  /**
   * Renews a live lease, optionally changing the status. Returns undefined for an unknown,
   * deleted or expired instance: the client must register again. The event is set only when the
   * status changed; a plain renewal is not news to watchers.
   */
  heartbeat(
    service: string,
    id: string,
    status?: Status,
    leaseNow = this.clock.wall(),
  ): { entry: Entry; event?: ChangeEvent } | undefined {
    const existing = this.get(service, id);
    if (existing === undefined || !this.isLive(existing, leaseNow)) return undefined;
    const hlc = this.clock.after(existing.hlc);
    const changed = status !== undefined && status !== existing.status;
    const entry = this.write(existing, {
      ...existing,
      hlc,
      node: this.nodeId,
      status: status ?? existing.status,
    });
    return changed ? { entry, event: { type: "updated", entry } } : { entry };
  }

  /**
   * Deletes an instance by writing a tombstone at a fresh version, whatever this replica holds:
   * an unknown key, or one already deleted here, may have a registration on its way from a
   * peer, and an acknowledged deregister must still win over it. The event is set only when a
   * live instance went away; deleting what was not there is not news to watchers.
   */
  deregister(service: string, id: string): { entry: Entry; event?: ChangeEvent } {
    const existing = this.get(service, id);
    const hlc = this.clock.after(existing?.hlc ?? 0);
    const live = existing !== undefined && existing.body !== null;
    const entry = this.write(
      existing,
      tombstoneOf(service, id, existing?.ver ?? "", hlc, this.nodeId),
    );
    return live ? { entry, event: { type: "deregistered", entry } } : { entry };
  }

  /**
   * Ends a lapsed lease with a tombstone, the record that its expiry was reported: replicated
   * and stored like any write, so no node, restarted or not, reports it again. Undefined when the
   * key no longer holds the lapsed version (renewed, deleted or expired meanwhile).
   */
  expire(
    service: string,
    id: string,
    version: { hlc: HlcTimestamp; node: string },
  ): ChangeEvent | undefined {
    const existing = this.get(service, id);
    if (
      existing === undefined ||
      existing.body === null ||
      existing.hlc !== version.hlc ||
      existing.node !== version.node
    )
      return undefined;
    const hlc = this.clock.after(existing.hlc);
    const entry = this.write(existing, tombstoneOf(service, id, existing.ver, hlc, this.nodeId));
    return { type: "expired", entry };
  }

  /** Applies peers' records: the greater version of each key wins (see merge.ts). */
  merge(records: Iterable<EntryRecord>): MergeResult {
    const result: MergeResult = { applied: [], stale: 0, rejectedSkew: 0, rejectedExpired: 0 };
    const now = this.clock.wall();
    const newestAccepted = now + this.clock.maxSkewMs;
    for (const record of records) {
      if (hlcWall(record.hlc) > newestAccepted) {
        this.rejected.add(record.service, record.id, record.hlc, record.node);
        result.rejectedSkew++;
        continue;
      }
      if (this.rejected.has(record.service, record.id, record.hlc, record.node)) {
        result.rejectedSkew++;
        continue;
      }
      if (this.collectAt(record) <= now) {
        result.rejectedExpired++;
        continue;
      }
      const existing = this.get(record.service, record.id);
      if (existing !== undefined && this.order(record, existing) <= 0) {
        result.stale++;
        continue;
      }
      this.clock.observe(record.hlc);
      result.applied.push(this.write(existing, record));
    }
    return result;
  }

  /** Live instances of a service matching every filter given; expired leases are never shown. */
  lookup(query: LookupQuery, now: number): Entry[] {
    const out: Entry[] = [];
    for (const entry of this.services.of(query.service)) {
      if (this.isLive(entry, now) && matchesQuery(entry, query)) out.push(entry);
    }
    return out;
  }

  /** Entries held for a service (live, or lapsed and not yet collected): a cheap upper bound of
   * its live instances. */
  heldInstanceCount(service: string): number {
    return this.services.of(service).length;
  }

  /** Services with any entry held: a cheap upper bound of those with a live instance. */
  get heldServiceCount(): number {
    return this.services.size;
  }

  /**
   * Live instances of a service, counting no further than `atMost` (quota checks only need to
   * know whether a limit is reached). Lapsed leases not yet collected are held but not counted.
   */
  liveInstanceCount(service: string, now: number, atMost = Number.POSITIVE_INFINITY): number {
    const entries = this.services.of(service);
    if (entries.length <= atMost) atMost = entries.length;
    let live = 0;
    for (const entry of entries) {
      if (this.isLive(entry, now) && ++live >= atMost) break;
    }
    return live;
  }

  /** Services with at least one live instance, counting no further than `atMost`. */
  liveServiceCount(now: number, atMost = Number.POSITIVE_INFINITY): number {
    let live = 0;
    if (this.services.size < atMost) atMost = this.services.size;
    for (const { entries } of this.services.values()) {
      if (entries.some((e) => this.isLive(e, now)) && ++live >= atMost) break;
    }
    return live;
  }

  /**
   * What changed in a service after version `since`, for a watch that holds everything up to
   * it: live instances written after it, and keys that stopped being live after it (deleted,
   * or whose lease passed). Undefined when deletions that old may already be collected: the
   * watch then needs the whole service.
   */
  serviceChangesSince(
    service: string,
    since: HlcTimestamp,
    now: number,
  ): { changed: Entry[]; removed: Entry[] } | undefined {
    if (hlcWall(since) <= now - this.tombstoneTtlMs) return undefined;
    const sinceWall = hlcWall(since);
    const changed: Entry[] = [];
    const removed: Entry[] = [];
    for (const entry of this.services.of(service)) {
      if (this.isLive(entry, now)) {
        if (entry.hlc > since) changed.push(entry);
      } else if (entry.hlc > since || (entry.body !== null && heldLeaseEnd(entry) > sinceWall)) {
        removed.push(entry);
      }
    }
    return { changed, removed };
  }

  /** The newest version held of any key of a service, tombstones included; 0 if none. */
  serviceHighWater(service: string): HlcTimestamp {
    let newest = 0;
    for (const entry of this.services.of(service)) if (entry.hlc > newest) newest = entry.hlc;
    return newest;
  }

  /** Every service with at least one live instance: its instance count and how many run. */
  serviceSummaries(now: number): { name: string; instances: number; healthy: number }[] {
    const out: { name: string; instances: number; healthy: number }[] = [];
    for (const { name, entries } of this.services.values()) {
      let instances = 0;
      let healthy = 0;
      for (const entry of entries) {
        if (!this.isLive(entry, now)) continue;
        instances++;
        if (entry.status === "running") healthy++;
      }
      if (instances > 0) out.push({ name, instances, healthy });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * The newest version of every key changed after `since`, in sequence order, bounded by count
   * and approximate bytes. The cursor advances past skipped entries so a puller never rescans.
   */
  changesSince(since: number, options: ChangesOptions): ChangesPage {
    const records: Entry[] = [];
    let bytes = 0;
    let cursor = since;
    let complete = true;
    this.log.scan(since, (entry) => {
      if (
        entry.node !== options.excludeNode &&
        (options.onlyNode === undefined || entry.node === options.onlyNode)
      ) {
        const size = estimateRecordBytes(entry);
        if (
          records.length > 0 &&
          (records.length >= options.maxEntries || bytes + size > options.maxBytes)
        ) {
          complete = false;
          return false;
        }
        records.push(entry);
        bytes += size;
      }
      cursor = entry.seq;
      return true;
    });
    return { records, cursor: complete ? this.log.head : cursor, complete };
  }

  /**
   * Loads entries saved by durable storage, oldest seq first, into an empty store: they keep
   * their seq, the log continues after `head`, and the clock resumes after the newest version.
   */
  restore(entries: Iterable<EntryRecord & { seq: number }>, head: number): void {
    if (this.size > 0 || this.log.head > 0) throw new Error("restore needs an empty store");
    let newest = 0;
    for (const record of entries) {
      const entry = newEntry(record);
      entry.leaseStart = this.clock.leaseStartOf(record.hlc);
      entry.seq = record.seq;
      entry.storedSeq = record.seq;
      assignKeyHash(entry, entry.service, entry.id);
      this.insert(entry);
      this.log.restore(entry);
      this.schedule(entry);
      if (entry.hlc > newest) newest = entry.hlc;
    }
    this.log.advanceTo(head);
    this.clock.restore(newest);
  }

  /** Every entry held, tombstones included, in no particular order; the store must not change
   * while this runs (a removal moves another entry into the removed one's place). */
  *entries(): IterableIterator<Entry> {
    for (const group of this.services.values()) yield* group.entries;
  }

  /**
   * Notices leases that passed and collects what is past its grace period. With `pauseExpiry`
   * (self-preservation) leases are neither reported nor collected; tombstones still are.
   */
  sweep(now: number, pauseExpiry = false): SweepResult {
    const result: SweepResult = { expired: [], collected: 0, removed: [] };
    this.due.drain(now, (entry) => {
      if (this.byKey.find(entry.service, entry.id, entry.k0) !== entry) return;
      if (entry.body === null || entry.expiredSeen) {
        const at = this.collectAt(entry);
        if (at <= now) {
          this.collect(entry);
          result.collected++;
          result.removed.push(entry);
        } else {
          this.due.schedule(entry, at);
        }
        return;
      }
      const expiresAt = heldLeaseEnd(entry);
      if (expiresAt > now) {
        this.due.schedule(entry, expiresAt);
      } else if (pauseExpiry) {
        this.due.schedule(entry, now + 1_000);
      } else {
        this.uncount(entry);
        entry.expiredSeen = true;
        result.expired.push(entry);
        this.due.schedule(entry, this.collectAt(entry));
      }
    });
    return result;
  }

  /** A lease that has not passed; the test lookups and summaries apply. */
  isLive(entry: Entry, now: number): boolean {
    return entry.body !== null && heldLeaseEnd(entry) > now;
  }

  /** When an entry stops being worth keeping: a tombstone's or an expired lease's grace end. */
  private collectAt(record: EntryState): number {
    const deadSince = record.body === null ? hlcWall(record.hlc) : leaseEnd(record);
    return deadSince + this.tombstoneTtlMs;
  }

  private write(existing: Entry | undefined, record: EntryState): Entry {
    let entry: Entry;
    if (existing === undefined) {
      entry = newEntry(record);
      entry.leaseStart = this.clock.leaseStartOf(record.hlc);
      entry.k0 = this.lastKey.k0;
      entry.k1 = this.lastKey.k1;
      this.insert(entry);
    } else {
      this.uncount(existing);
      const previous = { h0: existing.h0, h1: existing.h1, h2: existing.h2, h3: existing.h3 };
      assignEntry(existing, record);
      existing.leaseStart = this.clock.leaseStartOf(record.hlc);
      this.reconIndex.rehash(existing, previous);
      this.count(existing);
      entry = existing;
    }
    this.log.append(entry);
    this.schedule(entry);
    return entry;
  }

  /** Queues the entry for when something next falls due: its lease ends, or its grace. */
  private schedule(entry: Entry): void {
    this.due.schedule(entry, entry.body === null ? this.collectAt(entry) : heldLeaseEnd(entry));
  }

  /** Adds a new key, its key hash already set, to the maps and the reconciliation index. */
  private insert(entry: Entry): void {
    this.byKey.insert(entry);
    this.services.add(entry);
    this.reconIndex.add(entry);
    this.count(entry);
  }

  private count(entry: Entry): void {
    if (!holdsLease(entry)) return;
    this.leases++;
    if (wasRenewed(entry)) this.renewed++;
  }

  private uncount(entry: Entry): void {
    if (!holdsLease(entry)) return;
    this.leases--;
    if (wasRenewed(entry)) this.renewed--;
  }

  private collect(entry: Entry): void {
    this.byKey.remove(entry);
    this.services.remove(entry);
    this.reconIndex.remove(entry);
    this.log.remove(entry);
  }
}

function tombstoneOf(
  service: string,
  id: string,
  ver: string,
  hlc: HlcTimestamp,
  node: string,
): EntryState {
  return {
    service,
    id,
    hlc,
    node,
    body: null,
    status: "stopped",
    ver,
    ttlMs: 0,
    registeredAt: 0,
  };
}

function holdsLease(entry: Entry): boolean {
  return entry.body !== null && !entry.expiredSeen;
}

/** Instance versions repeat across a service's instances: share one copy of each (bounded). */
const internVersion = internTable(4_096);
