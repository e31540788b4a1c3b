/**
 * What making one group of writes durable costs (issue 16): the group as a durable node commits
 * it (`LmdbStorage`: one frame appended to its write-ahead log, LMDB folding the frames in
 * transactions of hundreds; the folds' share is in), against one LMDB transaction per group
 * (records keyed by seq and the meta record, synced: what a node did before the log), and
 * against the bare log append two ways: a write then an `fdatasync`, and one write to a file
 * opened O_DSYNC (as the node's log does). Both logs are written over preallocated blocks, as
 * the node's log files are once written. Awaited one group after another, as a node awaits its
 * group commit; async calls, as a node makes them. Reports the process's CPU (every thread) and
 * the wall time per group, medians.
 */

import { constants, mkdtempSync, rmSync } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open as openLmdb } from "lmdb";
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

type Way = "node" | "LMDB transaction" | "log, write + fdatasync" | "log, O_DSYNC write";
const WAYS: readonly Way[] = [
  "node",
  "LMDB transaction",
  "log, write + fdatasync",
  "log, O_DSYNC write",
];
/** The way the others are compared with. */
const REFERENCE: Way = "LMDB transaction";

async function viaNode(dir: string, all: Entry[], size: number): Promise<Cost> {
  const storage = new LmdbStorage(join(dir, "data"), BENCH_NODE, NEVER_PRESSED);
  try {
    storage.load();
    await storage.initialise("bench-epoch");
    return await costPer(all.length / size, () => commitInGroups(storage, all, size));
  } finally {
    await storage.close();
  }
}

/** One synced LMDB transaction a group: the sealed records by seq and the meta record. */
async function viaLmdbTransactions(dir: string, all: Entry[], size: number): Promise<Cost> {
  const root = openLmdb({ path: join(dir, "data"), maxDbs: 8 });
  const entries = root.openDB<Buffer, number>({ name: "entries", encoding: "binary" });
  const meta = root.openDB<Buffer, string>({ name: "meta", encoding: "binary" });
  try {
    return await costPer(all.length / size, async () => {
      for (let i = 0; i < all.length; i += size) {
        const group = all.slice(i, i + size);
        const writes = group.map((entry) => entries.put(entry.seq, seal(toStored(entry))));
        writes.push(meta.put("meta", seal({ head: group[group.length - 1]!.seq })));
        await Promise.all(writes);
      }
    });
  } finally {
    await root.close();
  }
}

async function viaLog(dir: string, all: Entry[], size: number, dsync: boolean): Promise<Cost> {
  const path = join(dir, "log");
  // Longer than the records will take (a sealed synthetic record is under 1 KiB), synced.
  const zeros = Buffer.alloc(1 << 20);
  const blank = await openFile(path, "w");
  for (let at = 0; at < all.length * 1024; at += zeros.length)
    await blank.write(zeros, 0, zeros.length, at);
  await blank.datasync();
  await blank.close();
  const file = await openFile(path, dsync ? constants.O_RDWR | constants.O_DSYNC : "r+");
  try {
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
        if (!dsync) await file.datasync();
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
    if (way === "node") return await viaNode(dir, all, size);
    if (way === "LMDB transaction") return await viaLmdbTransactions(dir, all, size);
    return await viaLog(dir, all, size, way === "log, O_DSYNC write");
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
            way === REFERENCE
              ? `${count} records × ${reps}, every thread`
              : `${(cpu(way) / cpu(REFERENCE)).toFixed(2)}× an LMDB transaction's`,
        },
        {
          metric: `${size} records a group, ${way}: wall time per group`,
          value: wall(way),
          unit: "ms",
          note:
            way === REFERENCE
              ? undefined
              : `${(wall(way) / wall(REFERENCE)).toFixed(2)}× an LMDB transaction's`,
        },
      );
    }
  }
  return rows;
}

const scenario: Scenario = {
  name: "durable-group",
  description:
    "one group of writes made durable: as a node commits it (log append, folds), against an LMDB transaction and bare log appends",
  run,
};

export default scenario;
