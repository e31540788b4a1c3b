import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { MergeResult } from "../core/mod.js";
import type { StorageStats } from "../storage/storage.js";
import type { PeerStateName } from "../sync/peer.js";
import type { ApplyPath, SyncMetrics } from "../sync/sync-metrics.js";

/**
 * The node's Prometheus metrics (DESIGN.md §7). One registry per node, so several nodes in one
 * process (tests, `regsync dev`) keep separate figures.
 */
export class NodeMetrics implements SyncMetrics {
  readonly registry = new Registry();

  constructor() {
    // Process and Node.js runtime metrics (CPU, memory, heap, event-loop lag, GC, handles),
    // named as every Node.js exporter names them, so the usual dashboards work.
    collectDefaultMetrics({ register: this.registry });
  }

  readonly #requestTallies = new Tallies();
  readonly requests = new Counter({
    name: "regsync_requests_total",
    help: "Client API requests by endpoint and outcome code",
    labelNames: ["endpoint", "code"] as const,
    registers: [this.registry],
    collect: flushInto(this.#requestTallies),
  });
  readonly requestsDropped = new Counter({
    name: "regsync_requests_dropped_total",
    help: "Requests dropped unanswered, by reason (reply_subject: the reply subject is not under a configured inbox prefix)",
    labelNames: ["endpoint", "reason"] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: "regsync_request_duration_seconds",
    help: "Client API requests from receipt to reply, by endpoint (queueing in the node included)",
    labelNames: ["endpoint"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly syncRounds = new Counter({
    name: "regsync_sync_pulls_total",
    help: "Pulls sent to peers, by outcome",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly #byteTallies = new Tallies();
  readonly syncBytes = new Counter({
    name: "regsync_sync_bytes_total",
    help: "Sync payload bytes by direction and stage (raw msgpack before compression, wire after)",
    labelNames: ["direction", "stage"] as const,
    registers: [this.registry],
    collect: flushInto(this.#byteTallies),
  });
  readonly #announcementTallies = new Tallies();
  readonly announcements = new Counter({
    name: "regsync_announcements_total",
    help: "Announcements by direction, and whether they carried the changes inline",
    labelNames: ["direction", "inline"] as const,
    registers: [this.registry],
    collect: flushInto(this.#announcementTallies),
  });
  readonly #appliedTallies = new Tallies();
  readonly entriesApplied = new Counter({
    name: "regsync_entries_applied_total",
    help: "Peer entries applied to the local replica, by path (inline, pull, reconcile)",
    labelNames: ["path"] as const,
    registers: [this.registry],
    collect: flushInto(this.#appliedTallies),
  });
  readonly entriesStale = new Counter({
    name: "regsync_entries_stale_total",
    help: "Peer entries not applied because the local version is as new or newer (conflicts lost)",
    registers: [this.registry],
  });
  readonly entriesRejected = new Counter({
    name: "regsync_entries_rejected_total",
    help: "Peer entries rejected, by reason (clock_skew, past_grace)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly batchesRejected = new Counter({
    name: "regsync_batches_rejected_total",
    help: "Sync messages rejected whole, by reason (checksum_mismatch, bad_signature, invalid, ...)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly reconciliations = new Counter({
    name: "regsync_reconciliations_total",
    help: "Differential reconciliations run with peers, by outcome",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly pullLatency = new Histogram({
    name: "regsync_pull_latency_seconds",
    help: "Round-trip time of successful pulls",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly pullWait = new Counter({
    name: "regsync_pull_wait_seconds_total",
    help: "Time pull loops spent waiting for a peer's page, prefetched or not (a node that waits much is bound by its peers, not by its own merging)",
    registers: [this.registry],
  });
  readonly convergenceLag = new Gauge({
    name: "regsync_convergence_lag_seconds",
    help: "Time since this node last held the same digest as every live peer (0 when it does)",
    registers: [this.registry],
  });
  readonly peers = new Gauge({
    name: "regsync_peers",
    help: "Peers seen in announcements, by state",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });
  readonly entries = new Gauge({
    name: "regsync_entries",
    help: "Entries held (instances, tombstones and expired leases not yet collected)",
    registers: [this.registry],
  });
  readonly #changeTallies = new Tallies();
  readonly changesPublished = new Counter({
    name: "regsync_changes_published_total",
    help: "Change notifications published, by type",
    labelNames: ["type"] as const,
    registers: [this.registry],
    collect: flushInto(this.#changeTallies),
  });
  readonly natsConnected = new Gauge({
    name: "regsync_nats_connected",
    help: "1 while the node's NATS connection is up, 0 while it is down or not yet made",
    registers: [this.registry],
  });
  readonly selfPreservation = new Gauge({
    name: "regsync_self_preservation",
    help: "1 while lease expiry is paused because too many leases lapsed at once",
    registers: [this.registry],
  });
  readonly selfPreservationFrozen = new Gauge({
    name: "regsync_self_preservation_frozen_seconds",
    help: "How long the current self-preservation freeze has lasted (0 when not frozen)",
    registers: [this.registry],
  });
  readonly selfPreservationMax = new Gauge({
    name: "regsync_self_preservation_max_seconds",
    help: "The longest a self-preservation freeze may last (selfPreservationMaxMs)",
    registers: [this.registry],
  });
  readonly selfPreservationThaws = new Counter({
    name: "regsync_self_preservation_thaws_total",
    help: "Self-preservation freezes ended, by reason (recovered, stable, timeout)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  /** The durable store's own counts, read at each scrape (followStorage). */
  #storageStats: (() => StorageStats) | undefined;

  /** Reports what `stats` counts (a durable store) under the regsync_storage_* counters. */
  followStorage(stats: () => StorageStats): void {
    this.#storageStats = stats;
  }

  readonly storageTransactions = this.storageCounter(
    "regsync_storage_transactions_total",
    "Durable groups written (each one log append and fsync)",
    (s) => s.transactions,
  );
  readonly storageRecords = this.storageCounter(
    "regsync_storage_records_total",
    "Entry records written or deleted by durable groups",
    (s) => s.records,
  );
  readonly storageSpaced = this.storageCounter(
    "regsync_storage_spaced_transactions_total",
    "Groups held back to space them out while the machine was short of CPU",
    (s) => s.spaced,
  );

  /** A counter that follows one of the store's counts, brought up to date at each scrape. */
  private storageCounter(name: string, help: string, pick: (stats: StorageStats) => number) {
    let reported = 0;
    const follow = () => this.#storageStats;
    return new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        const stats = follow()?.();
        if (stats === undefined) return;
        const now = pick(stats);
        if (now > reported) this.inc(now - reported);
        reported = now;
      },
    });
  }

  /** Each endpoint's duration histogram child, made once: `labels()` makes one a call. */
  readonly #durationChildren = new ByLabelValues((endpoint) =>
    this.requestDuration.labels(endpoint),
  );

  /** Counts a client request and its duration. */
  requestServed(endpoint: string, code: string, seconds: number): void {
    this.#requestTallies.of(endpoint, code).count++;
    this.#durationChildren.of(endpoint).observe(seconds);
  }

  /** Counts a change notification published. */
  changePublished(type: string): void {
    this.#changeTallies.of(type).count++;
  }

  // The sync engine's reports (SyncMetrics), as Prometheus figures.

  announced(direction: "in" | "out", inline: boolean): void {
    this.#announcementTallies.of(direction, inline ? "true" : "false").count++;
  }

  pulled(outcome: "ok" | "failed" | "reset", latencyMs?: number): void {
    this.syncRounds.inc({ outcome });
    if (latencyMs !== undefined) this.pullLatency.observe(latencyMs / 1000);
  }

  pullWaited(ms: number): void {
    this.pullWait.inc(ms / 1000);
  }

  applied(path: ApplyPath, result: MergeResult): void {
    this.#appliedTallies.of(path).count += result.applied.length;
    if (result.stale > 0) this.entriesStale.inc(result.stale);
    if (result.rejectedSkew > 0)
      this.entriesRejected.inc({ reason: "clock_skew" }, result.rejectedSkew);
    if (result.rejectedExpired > 0)
      this.entriesRejected.inc({ reason: "past_grace" }, result.rejectedExpired);
  }

  rejected(reason: string): void {
    this.batchesRejected.inc({ reason });
  }

  reconciled(outcome: "ok" | "failed"): void {
    this.reconciliations.inc({ outcome });
  }

  bytes(direction: "in" | "out", stage: "raw" | "wire", count: number): void {
    this.#byteTallies.of(direction, stage).count += count;
  }

  peerStates(counts: Readonly<Record<PeerStateName, number>>, entries: number): void {
    for (const [state, n] of Object.entries(counts)) this.peers.set({ state }, n);
    this.entries.set(entries);
  }
}

/**
 * One value per combination of label values, made on first use and found again through nested
 * maps: no key is built per call, where joining the values into one string (then hashing that
 * new string) cost more than the count itself.
 */
class ByLabelValues<V> {
  readonly #root = new Map<string, unknown>();

  constructor(private readonly make: (...values: string[]) => V) {}

  of(...values: string[]): V {
    let level = this.#root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      let next = level.get(values[i]!) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(values[i]!, next);
      }
      level = next;
    }
    let value = level.get(values[last]!) as V | undefined;
    if (value === undefined) {
      value = this.make(...values);
      level.set(values[last]!, value);
    }
    return value;
  }
}

/** What was counted under one combination of label values since the counter was last read. */
interface Tally {
  readonly values: readonly string[];
  count: number;
  /** Its sample exists, at 0 if need be: as prom-client's own `inc(0)` makes it. */
  shown: boolean;
}

/**
 * A labelled counter's counts kept in plain numbers on the hot path and added to the counter
 * when it is read (a scrape, or `get()`): prom-client's `inc` hashes and validates the labels
 * on every call, even on a label child (~0.5 µs), and these count every client request and
 * every sync message.
 */
class Tallies extends ByLabelValues<Tally> {
  readonly all: Tally[] = [];

  constructor() {
    super((...values) => {
      const tally = { values, count: 0, shown: false };
      this.all.push(tally);
      return tally;
    });
  }
}

/** A counter's `collect`: adds what `tallies` counted since the last read. */
function flushInto(tallies: Tallies) {
  return function collect(this: Counter<string>): void {
    for (const tally of tallies.all) {
      if (tally.count === 0 && tally.shown) continue;
      this.labels(...tally.values).inc(tally.count);
      tally.count = 0;
      tally.shown = true;
    }
  };
}
