/**
 * The pure core, without NATS: local writes, merges, the digest's cost per change at two
 * registry sizes, change-log scans, lookups, and heap bytes per entry at a million entries.
 */
import {
  type Entry,
  type EntryRecord,
  entryRecord,
  type Instance,
  RegistryStore,
  renderInstances,
} from "../../src/core/mod.js";
import { ReconIndex } from "../../src/core/reconcile/recon-index.js";
import { syntheticInstance, syntheticRecord } from "../fleet/synthetic.js";
import { atLeast, atMost, type BenchRow, median, type Scenario } from "../scenario.js";

const REPEATS = 3;

function newStore(nodeId: string, wall: () => number = Date.now): RegistryStore {
  return new RegistryStore({
    nodeId,
    epoch: "bench",
    wallClock: wall,
    maxClockSkewMs: 60_000,
    tombstoneTtlMs: 86_400_000,
  });
}

function timeIt(run: () => void): number {
  const started = performance.now();
  run();
  return performance.now() - started;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** A store of `size` entries, built by local writes. */
function filledStore(size: number): RegistryStore {
  const store = newStore("local");
  for (let i = 0; i < size; i++) store.register(syntheticInstance(i));
  return store;
}

/**
 * The digest's share of a change in a store of `size`: take the old hash out, put the new one
 * in. The changes touch the same thousand entries whatever the size, so the figure shows what
 * the digest itself costs as the registry grows, apart from the cache misses any write to a
 * random entry of a large heap pays (the whole-update rows show those).
 */
function digestCostPerChange(store: RegistryStore, changes: number): number {
  const entries = [...store.entries()];
  const hot = entries.slice(0, 1_000);
  const picked = Array.from({ length: changes }, (_, i) => hot[(i * 7_919) % hot.length]!);
  // The digest is the reconciliation index's sums: a change updates those on its key's path.
  const index = new ReconIndex<Entry>();
  for (const e of entries) index.add(e);
  const runs = [];
  for (let r = 0; r < REPEATS; r++) {
    runs.push(
      (timeIt(() => {
        // A zero difference does the whole update's work and leaves the sums exact.
        for (const e of picked) index.rehash(e, e);
      }) *
        1e6) /
        changes,
    );
  }
  return median(runs);
}

/** Median ns per change of a whole update (a newer version of a held key) in `store`. */
function updateCost(store: RegistryStore, updates: number): number {
  const entries = [...store.entries()];
  const runs = [];
  for (let r = 1; r <= REPEATS; r++) {
    const batch: EntryRecord[] = [];
    for (let i = 0; i < updates; i++) {
      const entry = entries[(i * 7_919) % entries.length]!;
      batch.push({ ...entryRecord(entry), hlc: entry.hlc + r * 1_024, node: "peer" });
    }
    runs.push((timeIt(() => store.merge(batch)) * 1e6) / updates);
  }
  return median(runs);
}

/** The digest's and a whole update's cost per change, at 10k entries and at 1M (quick: 100k). */
function digestRows(quick: boolean): BenchRow[] {
  const rows: BenchRow[] = [];
  const largeSize = quick ? 100_000 : 1_000_000;
  const smallStore = filledStore(10_000);
  const smallDigest = digestCostPerChange(smallStore, 100_000);
  const smallUpdate = updateCost(smallStore, 50_000);
  const largeStore = filledStore(largeSize);
  const largeDigest = digestCostPerChange(largeStore, 100_000);
  const largeUpdate = updateCost(largeStore, 50_000);
  const label = quick ? "100k" : "1M";
  rows.push({ metric: "digest update per change, 10k entries", value: smallDigest, unit: "ns" });
  rows.push(
    atMost(
      `digest update per change, ${label} entries`,
      largeDigest,
      "ns",
      2 * smallDigest,
      `${(largeDigest / smallDigest).toFixed(2)}× the 10k figure`,
    ),
  );
  rows.push({
    metric: "whole update per change, 10k entries (hash, digest, log, index, maps)",
    value: smallUpdate,
    unit: "ns",
  });
  rows.push({
    metric: `whole update per change, ${label} entries`,
    value: largeUpdate,
    unit: "ns",
    note: `${(largeUpdate / smallUpdate).toFixed(2)}× the 10k figure: cache misses, not work`,
  });

  return rows;
}

/**
 * The other local writes, on a store holding every instance: renewals (what a fleet mostly
 * writes: every instance renews several times per ttl), status changes, and deregistrations.
 */
function renewalRows(instances: readonly Instance[]): BenchRow[] {
  const renewals = [];
  const statusChanges = [];
  const deregistrations = [];
  for (let r = 0; r < REPEATS; r++) {
    const store = newStore("local");
    for (const instance of instances) store.register(instance);
    gc();
    const per = (ms: number) => instances.length / (ms / 1000);
    renewals.push(
      per(
        timeIt(() => {
          for (const { service, id } of instances) store.heartbeat(service, id);
        }),
      ),
    );
    statusChanges.push(
      per(
        timeIt(() => {
          for (const { service, id } of instances) store.heartbeat(service, id, "unhealthy");
        }),
      ),
    );
    deregistrations.push(
      per(
        timeIt(() => {
          for (const { service, id } of instances) store.deregister(service, id);
        }),
      ),
    );
  }
  return [
    {
      metric: "local writes/s (renewal of a held lease)",
      value: median(renewals),
      unit: "writes/s",
    },
    { metric: "local writes/s (status change)", value: median(statusChanges), unit: "writes/s" },
    { metric: "local writes/s (deregister)", value: median(deregistrations), unit: "writes/s" },
  ];
}

const scenario: Scenario = {
  name: "core",
  description: "the pure core: writes, merges, digest cost, scans, lookups, heap per entry",
  async run(context) {
    const n = context.quick ? 100_000 : 1_000_000;
    const rows: BenchRow[] = [];
    const instances: Instance[] = Array.from({ length: 200_000 }, (_, i) => syntheticInstance(i));

    context.log("local writes");
    const writes = [];
    for (let r = 0; r < REPEATS; r++) {
      const store = newStore("local");
      writes.push(
        instances.length /
          (timeIt(() => {
            for (const instance of instances) store.register(instance);
          }) /
            1000),
      );
    }
    rows.push(
      atLeast("local writes/s (register, 200k new keys)", median(writes), "writes/s", 200_000),
    );
    rows.push(...renewalRows(instances));

    context.log("merges");
    const now = Date.now();
    const records = Array.from({ length: 200_000 }, (_, i) => syntheticRecord(i, now, "peer"));
    const merges = [];
    const replaces = [];
    for (let r = 0; r < REPEATS; r++) {
      const store = newStore("local");
      merges.push(records.length / (timeIt(() => store.merge(records)) / 1000));
      const newer = records.map((e) => ({ ...e, hlc: e.hlc + 1_024 }));
      replaces.push(newer.length / (timeIt(() => store.merge(newer)) / 1000));
    }
    rows.push(atLeast("merges/s (new keys)", median(merges), "merges/s", 300_000));
    rows.push(
      atLeast("merges/s (newer versions of held keys)", median(replaces), "merges/s", 300_000),
    );
    const stale = newStore("local");
    stale.merge(records);
    rows.push({
      metric: "merges/s (stale versions, rejected)",
      value: records.length / (timeIt(() => stale.merge(records)) / 1000),
      unit: "merges/s",
    });

    rows.push(...digestRows(context.quick));

    context.log("change-log scans and lookups");
    const scanned = newStore("local");
    scanned.merge(records);
    const scanMs = timeIt(() => {
      let cursor = 0;
      for (;;) {
        const page = scanned.changesSince(cursor, { maxEntries: 5_000, maxBytes: 4 << 20 });
        cursor = page.cursor;
        if (page.complete) break;
      }
    });
    rows.push({
      metric: "changesSince scan rate",
      value: records.length / (scanMs / 1000),
      unit: "entries/s",
    });
    const big = newStore("local");
    const service = "svc-007";
    for (let i = 0; i < 5_000; i++) big.register({ ...syntheticInstance(i * 200 + 7), service });
    const plain = [];
    const filtered = [];
    for (let r = 0; r < 20; r++) {
      plain.push(timeIt(() => renderInstances(big.lookup({ service }, Date.now()))));
      filtered.push(
        timeIt(() =>
          renderInstances(
            big.lookup({ service, region: "eu-west-1", tags: { tier: "edge" } }, Date.now()),
          ),
        ),
      );
    }
    rows.push({ metric: "lookup + render, 5,000 instances", value: median(plain), unit: "ms" });
    rows.push({
      metric: "lookup + render, 5,000 instances, region and tag filters",
      value: median(filtered),
      unit: "ms",
    });

    context.log(`heap per entry at ${n} entries`);
    if ((globalThis as { gc?: unknown }).gc === undefined) {
      rows.push({
        metric: "heap bytes per entry",
        value: Number.NaN,
        unit: "B",
        note: "run node with --expose-gc",
      });
      return rows;
    }
    instances.length = 0;
    records.length = 0;
    gc();
    const before = process.memoryUsage().heapUsed;
    const held = newStore("local");
    for (let i = 0; i < n; i++) held.register(syntheticInstance(i, 86_400_000));
    gc();
    const perEntry = (process.memoryUsage().heapUsed - before) / held.size;
    rows.push(
      atMost(
        `heap bytes per entry at ${n.toLocaleString("en-US")} entries`,
        perEntry,
        "B",
        700,
        "store, change log, expiry queue and reconciliation index",
      ),
    );
    return rows;
  },
};

export default scenario;
