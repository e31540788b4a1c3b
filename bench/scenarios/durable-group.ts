/**
 * What making one group of writes durable costs, against what it could cost (issue 16): the
 * group as a durable node commits it (`LmdbStorage`: records keyed by seq, the meta record, one
 * LMDB transaction synced), against the same sealed records appended to a log file and synced
 * (`fdatasync`), the file growing or written over preallocated blocks. The log is the ack path a
 * write-ahead log would leave, with LMDB updated in large transactions off it. Awaited one group
 * after another, as a node awaits its group commit; async file calls, as a node would make them.
 * Reports the process's CPU (every thread) and the wall time per group, medians.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Entry } from "../../src/core/mod.js";
import { LmdbStorage } from "../../src/storage/lmdb-storage.js";
import { seal } from "../../src/storage/sealed.js";
import { toStored } from "../../src/storage/stored-entry.js";
import { type BenchContext, type BenchRow, inTurn, median, type Scenario } from "../scenario.js";
import {
  BENCH_NODE,
  type Cost,
  commitInGroups,
  costPer,
  NEVER_PRESSED,
  syntheticEntries,
} from "../storage/commit-groups.js";

const GROUP_SIZES = [20, 100] as const;

type Way = "lmdb" | "log, growing" | "log, preallocated";
const WAYS: readonly Way[] = ["lmdb", "log, growing", "log, preallocated"];

async function viaLmdb(dir: string, all: Entry[], size: number): Promise<Cost> {
  const storage = new LmdbStorage(join(dir, "data"), BENCH_NODE, NEVER_PRESSED);
  try {
    storage.load();
    await storage.initialise("bench-epoch");
    return await costPer(all.length / size, () => commitInGroups(storage, all, size));
  } finally {
    await storage.close();
  }
}

async function viaLog(
  dir: string,
  all: Entry[],
  size: number,
  preallocated: boolean,
): Promise<Cost> {
  const file = await openFile(join(dir, "log"), "w");
  try {
    if (preallocated) {
      // Longer than the records will take: a sealed synthetic record is under 1 KiB.
      const total = all.length * 1024;
      const zeros = Buffer.alloc(1 << 20);
      for (let at = 0; at < total; at += zeros.length) await file.write(zeros, 0, zeros.length, at);
      await file.datasync();
    }
    let position = 0;
    return await costPer(all.length / size, async () => {
      for (let i = 0; i < all.length; i += size) {
        // Each record sealed as LmdbStorage seals it, framed by its length for a reader.
        const parts: Buffer[] = [];
        for (const entry of all.slice(i, i + size)) {
          const record = seal(toStored(entry));
          const length = Buffer.allocUnsafe(4);
          length.writeUInt32LE(record.length);
          parts.push(length, record);
        }
        const group = Buffer.concat(parts);
        await file.write(group, 0, group.length, position);
        position += group.length;
        await file.datasync();
      }
    });
  } finally {
    await file.close();
  }
}

async function measure(way: Way, count: number, size: number): Promise<Cost> {
  const dir = mkdtempSync(join(tmpdir(), "regsync-bench-durable-group-"));
  try {
    const all = syntheticEntries(count);
    if (way === "lmdb") return await viaLmdb(dir, all, size);
    return await viaLog(dir, all, size, way === "log, preallocated");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(context: BenchContext): Promise<BenchRow[]> {
  const count = context.quick ? 4_000 : 20_000;
  const reps = context.quick ? 1 : 3;
  const results = new Map<string, Cost[]>();
  for (let rep = 0; rep < reps; rep++) {
    for (const size of GROUP_SIZES) {
      for (const way of inTurn(WAYS, rep)) {
        const measured = await measure(way, count, size);
        const key = `${way} ${size}`;
        results.set(key, [...(results.get(key) ?? []), measured]);
        context.log(
          `  rep ${rep + 1}/${reps}, ${size} records a group, ${way}: ${measured.cpuMicros.toFixed(0)} CPU-µs, ${measured.wallMs.toFixed(2)} ms`,
        );
      }
    }
  }
  const rows: BenchRow[] = [];
  for (const size of GROUP_SIZES) {
    const cpu = (way: Way) => median((results.get(`${way} ${size}`) ?? []).map((m) => m.cpuMicros));
    const wall = (way: Way) => median((results.get(`${way} ${size}`) ?? []).map((m) => m.wallMs));
    for (const way of WAYS) {
      rows.push(
        {
          metric: `${size} records a group, ${way}: CPU per group`,
          value: cpu(way),
          unit: "CPU-µs",
          note:
            way === "lmdb"
              ? `${count} records × ${reps}, every thread; as a durable node commits`
              : `${(cpu(way) / cpu("lmdb")).toFixed(2)}× LMDB's`,
        },
        {
          metric: `${size} records a group, ${way}: wall time per group`,
          value: wall(way),
          unit: "ms",
          note: way === "lmdb" ? undefined : `${(wall(way) / wall("lmdb")).toFixed(2)}× LMDB's`,
        },
      );
    }
  }
  return rows;
}

const scenario: Scenario = {
  name: "durable-group",
  description:
    "one group of writes made durable: an LMDB transaction (as a node commits) against a synced log append",
  run,
};

export default scenario;
