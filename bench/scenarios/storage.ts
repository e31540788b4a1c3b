/**
 * What a durable node's storage costs per write, apart from everything else (issue 16):
 * `LmdbStorage` in this process, committing groups of 20, 100 and 1,000 entries (a pulled
 * page) back to back, each awaited as a node awaits its group. Registrations write new keys;
 * heartbeats then write every key again, in the order they were registered, as instances
 * renewing their leases do. Reports the process's CPU (every thread: LMDB commits on its own)
 * per entry, medians of the repetitions.
 *
 * `REGSYNC_BENCH_BASELINE_CLI=<other checkout>/dist/src/cli/main.js` runs that build's storage
 * too, alternated with this one, and prints the ratios.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { PressureGauge } from "../../src/storage/cpu-pressure.js";
import { LmdbStorage } from "../../src/storage/lmdb-storage.js";
import {
  type BenchContext,
  type BenchRow,
  baselineCli,
  inTurn,
  median,
  type Scenario,
} from "../scenario.js";
import {
  BENCH_NODE,
  commitInGroups,
  costPer,
  NEVER_PRESSED,
  syntheticEntries,
} from "../storage/commit-groups.js";

const GROUPS = [20, 100, 1_000] as const;

/** The storage surface the bench drives: this build's, or a baseline's of the same shape (a
 * build before the pressure gauge ignores it). */
type StorageClass = new (dir: string, nodeId: string, pressure?: PressureGauge) => LmdbStorage;

interface Build {
  label: string;
  Storage: StorageClass;
}

interface Measured {
  registrations: number;
  heartbeats: number;
}

async function measure(build: Build, count: number, group: number): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), "regsync-bench-storage-"));
  const storage = new build.Storage(join(dir, "data"), BENCH_NODE, NEVER_PRESSED);
  try {
    storage.load();
    await storage.initialise("bench-epoch");
    const all = syntheticEntries(count);
    const registrations = (await costPer(count, () => commitInGroups(storage, all, group)))
      .cpuMicros;
    let seq = count;
    for (const entry of all) {
      entry.seq = ++seq;
      entry.hlc += 1;
    }
    const heartbeats = (await costPer(count, () => commitInGroups(storage, all, group))).cpuMicros;
    return { registrations, heartbeats };
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function baselineBuild(): Promise<Build | undefined> {
  const cli = baselineCli();
  if (cli === undefined) return undefined;
  const module = pathToFileURL(join(dirname(cli), "../storage/lmdb-storage.js")).href;
  const { LmdbStorage: Storage } = (await import(module)) as { LmdbStorage: StorageClass };
  return { label: "baseline", Storage };
}

async function run(context: BenchContext): Promise<BenchRow[]> {
  const count = context.quick ? 5_000 : 30_000;
  const reps = context.quick ? 1 : 3;
  const builds: Build[] = [{ label: "this build", Storage: LmdbStorage }];
  const baseline = await baselineBuild();
  if (baseline !== undefined) builds.push(baseline);
  const results = new Map<string, Measured[]>();
  for (let rep = 0; rep < reps; rep++) {
    for (const group of GROUPS) {
      for (const build of inTurn(builds, rep)) {
        const measured = await measure(build, count, group);
        const key = `${build.label} ${group}`;
        results.set(key, [...(results.get(key) ?? []), measured]);
        context.log(
          `  rep ${rep + 1}/${reps}, ${build.label}, ${group} a group: registrations ${measured.registrations.toFixed(1)}, heartbeats ${measured.heartbeats.toFixed(1)} CPU-µs per entry`,
        );
      }
    }
  }
  const rows: BenchRow[] = [];
  const medianOf = (label: string, group: number, kind: keyof Measured) =>
    median((results.get(`${label} ${group}`) ?? []).map((m) => m[kind]));
  for (const group of GROUPS) {
    for (const kind of ["registrations", "heartbeats"] as const) {
      const value = medianOf("this build", group, kind);
      const base = baseline === undefined ? undefined : medianOf("baseline", group, kind);
      rows.push({
        metric: `${kind}, ${group} a group: CPU per entry`,
        value,
        unit: "CPU-µs",
        note:
          base === undefined
            ? `${count} entries × ${reps}, every thread`
            : `baseline ${base.toFixed(1)}: ${(value / base).toFixed(2)}× (${count} entries × ${reps})`,
      });
    }
  }
  return rows;
}

const scenario: Scenario = {
  name: "storage",
  description: "CPU per entry of a durable node's storage: registrations and heartbeats",
  run,
};
export default scenario;
