/**
 * What the storage benchmarks (`storage`, `durable-group`) share: synthetic entries with seqs,
 * committed group after group as a durable node awaits its group commit, and the process's CPU
 * and wall time over the work.
 */
import { type Entry, newEntry } from "../../src/core/mod.js";
import type { PressureGauge } from "../../src/storage/cpu-pressure.js";
import type { LmdbStorage } from "../../src/storage/lmdb-storage.js";
import { syntheticRecord } from "../fleet/synthetic.js";

/** The node id the benchmarks' storage belongs to. */
export const BENCH_NODE = "bench1";

/** The layout's cost alone: no transaction is held back, whatever else the machine runs. */
export const NEVER_PRESSED: PressureGauge = { underPressure: () => false };

/** `count` distinct entries of `BENCH_NODE`, at seqs 1..count. */
export function syntheticEntries(count: number): Entry[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const entry = newEntry(syntheticRecord(i, now, BENCH_NODE));
    entry.seq = i + 1;
    return entry;
  });
}

/** Commits `all` in groups of `group`, each awaited before the next. */
export async function commitInGroups(
  storage: Pick<LmdbStorage, "commit">,
  all: readonly Entry[],
  group: number,
): Promise<void> {
  for (let i = 0; i < all.length; i += group) {
    const slice = all.slice(i, i + group);
    await storage.commit(slice, slice[slice.length - 1]!.seq);
  }
}

/** The process's CPU (every thread, µs) and wall time (ms) per unit of some work. */
export interface Cost {
  cpuMicros: number;
  wallMs: number;
}

/** What `work` costs per one of its `units`. */
export async function costPer(units: number, work: () => Promise<void>): Promise<Cost> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await work();
  const cpu = process.cpuUsage(cpuBefore);
  return {
    cpuMicros: (cpu.user + cpu.system) / units,
    wallMs: (performance.now() - started) / units,
  };
}
