/**
 * Replicated writes (issue 16): one client keeping 64 registrations in flight against fleets of
 * `regsync node` processes (1, 3 and 5 nodes, memory and LMDB) and against JetStream KV R1 and
 * R3 (file storage), alternated within one run so the machine's load hits all alike, medians of
 * the repetitions. Reports acked writes/s, latency, propagation and fleet-wide CPU per write,
 * then the targets as ratios measured in the same run.
 */

import {
  atLeast,
  atMost,
  type BenchContext,
  type BenchRow,
  baselineCli,
  formatValue,
  inTurn,
  median,
  percentile,
  type Scenario,
} from "../scenario.js";
import { closedLoop } from "../writes/closed-loop.js";
import { fleetCpuMicros, fleetWriteCalls, mainThreadCpuMicros } from "../writes/process-cpu.js";
import { jetStreamKv, regsyncFleet, type WriteTarget } from "../writes/targets.js";

/** The load: 64 registrations in flight. `REGSYNC_BENCH_WRITES_IN_FLIGHT` sets another
 * (a light load, where per-message costs weigh most). */
const IN_FLIGHT = positiveWholeEnv("REGSYNC_BENCH_WRITES_IN_FLIGHT", 1) ?? 64;
/** The most writes a run makes before measuring (warmupWrites). */
const WARMUP_WRITES = 20_000;

interface Configuration {
  key: string;
  label: string;
  start: () => Promise<WriteTarget>;
  /** For regsync fleets: what `REGSYNC_BENCH_BASELINE_CLI` starts as the baseline twin. */
  fleet?: { size: number; durable: boolean };
  /** What an ack promises, so the table compares like with like. */
  acks: string;
}

/** nats-server 2.9's file store writes to the OS and syncs on a 2-minute timer (its
 * `sync_interval`, and the `always` mode, came in 2.10). */
const KV_ACKS = "acked once in the OS's buffers, before fsync";

function fleet(size: number, durable: boolean, key: string, label: string): Configuration {
  return {
    key,
    label,
    fleet: { size, durable },
    acks: durable ? "acked after fsync on the accepting node" : "acked in memory",
    start: () => regsyncFleet(size, durable, key),
  };
}

const CONFIGURATIONS: Configuration[] = [
  {
    key: "kv-r1",
    label: "NATS KV R1 (1 server)",
    acks: KV_ACKS,
    start: () => jetStreamKv(1, "kv-r1"),
  },
  {
    key: "kv-r3",
    label: "NATS KV R3 (3 servers)",
    acks: `${KV_ACKS}, on a majority`,
    start: () => jetStreamKv(3, "kv-r3"),
  },
  fleet(1, false, "rs1-mem", "regsync 1 node, memory"),
  fleet(1, true, "rs1-dur", "regsync 1 node, durable"),
  fleet(3, false, "rs3-mem", "regsync 3 nodes, memory"),
  fleet(3, true, "rs3-dur", "regsync 3 nodes, durable"),
  fleet(5, true, "rs5-dur", "regsync 5 nodes, durable"),
];

interface Measured {
  writesPerSecond: number;
  p50: number;
  p99: number;
  propagationP50: number;
  propagationP99: number;
  /** Fleet CPU during the load, less answering the propagation probe, per acked write. */
  cpuMicrosPerWrite: number;
  /** The same with the probe's answers left in. */
  rawCpuMicrosPerWrite: number;
  helperCpuMicrosPerWrite: number;
  /** The nodes' main threads alone (probe answers left in): what `--cpu-prof` samples, so the
   * figure to split by a profile's shares (bench/profile-summary.ts). */
  mainCpuMicrosPerWrite: number;
  /** Write system calls of the fleet's processes per acked write (probe answers in): socket
   * writes, LMDB's page writes, wake-ups of an event loop by another thread. */
  writeCallsPerWrite: number;
  /** This process's CPU per acked write: the load generator (its NATS client, the propagation
   * probe or the KV watcher), which shares the machine's cores with the system measured. */
  clientCpuMicrosPerWrite: number;
  missing: number;
  note: string;
}

async function measure(
  configuration: Configuration,
  writes: number,
  offset: number,
): Promise<Measured> {
  const target = await configuration.start();
  try {
    // Warm-up: connections, JIT and the first LMDB pages, outside the measurement.
    const warmup = warmupWrites(writes);
    await closedLoop(warmup, IN_FLIGHT, (i) => target.write(offset + i));
    await target.watch(warmup);
    const questionsBefore = target.probeQuestions();
    const cpuBefore = fleetCpuMicros(target.pids);
    const mainBefore = fleetCpuMicros(target.pids, mainThreadCpuMicros);
    const helperBefore = fleetCpuMicros(target.helperPids);
    const writeCallsBefore = fleetWriteCalls(target.pids);
    const clientBefore = process.cpuUsage();
    const load = await closedLoop(writes, IN_FLIGHT, (i) => target.write(offset + warmup + i));
    const client = process.cpuUsage(clientBefore);
    const cpu = fleetCpuMicros(target.pids) - cpuBefore;
    const mainCpu = fleetCpuMicros(target.pids, mainThreadCpuMicros) - mainBefore;
    const writeCalls = fleetWriteCalls(target.pids) - writeCallsBefore;
    // Answering the propagation probe is the bench's cost, not the writes': taken off at the
    // per-question cost measured on the idle fleet (an upper bound: answers batch under load).
    const probeCpu = Math.min(
      cpu,
      (target.probeQuestions() - questionsBefore) * target.probeMicrosPerQuestion,
    );
    const helperCpu = fleetCpuMicros(target.helperPids) - helperBefore;
    const propagation = await target.propagation(
      load.ackTimes,
      load.ackOrder.map((i) => offset + warmup + i),
    );
    return {
      writesPerSecond: load.acked / load.seconds,
      p50: percentile(load.latenciesMs, 50),
      p99: percentile(load.latenciesMs, 99),
      propagationP50: percentile(propagation.latenciesMs, 50),
      propagationP99: percentile(propagation.latenciesMs, 99),
      cpuMicrosPerWrite: (cpu - probeCpu) / load.acked,
      rawCpuMicrosPerWrite: cpu / load.acked,
      helperCpuMicrosPerWrite: helperCpu / load.acked,
      mainCpuMicrosPerWrite: mainCpu / load.acked,
      writeCallsPerWrite: writeCalls / load.acked,
      clientCpuMicrosPerWrite: (client.user + client.system) / load.acked,
      missing: propagation.missing,
      note: propagation.note,
    };
  } finally {
    await target.stop();
  }
}

const scenario: Scenario = {
  name: "writes",
  description:
    "acked writes/s, latency, propagation and fleet CPU per write: regsync fleets vs JetStream KV",
  async run(context: BenchContext) {
    const writes = writesPerRun(context.quick);
    const repetitions = repetitionsPerConfiguration(context.quick);
    const selected = selectedConfigurations();
    const results = new Map<string, Measured[]>();
    let offset = 0;
    for (let rep = 0; rep < repetitions; rep++) {
      for (const configuration of inTurn(selected, rep)) {
        context.log(`rep ${rep + 1}/${repetitions}: ${configuration.label}`);
        const m = await measure(configuration, writes, offset);
        offset += writes + 2_000;
        context.log(
          `  ${Math.round(m.writesPerSecond)} writes/s, p50 ${m.p50.toFixed(1)} p99 ${m.p99.toFixed(1)} ms, ` +
            `propagation p99 ${m.propagationP99.toFixed(1)} ms, ${Math.round(m.cpuMicrosPerWrite)} CPU-µs/write` +
            `, client ${Math.round(m.clientCpuMicrosPerWrite)}` +
            // Only regsync's nodes run beside a helper (their nats-server); KV's servers are Go.
            (m.helperCpuMicrosPerWrite > 0
              ? ` (main threads ${Math.round(m.mainCpuMicrosPerWrite)}, probe answers in; ` +
                `${m.writeCallsPerWrite.toFixed(2)} write calls/write)`
              : ""),
        );
        const list = results.get(configuration.key) ?? [];
        list.push(m);
        results.set(configuration.key, list);
      }
    }
    const med = (key: string, pick: (m: Measured) => number) =>
      median((results.get(key) ?? []).map(pick));
    const rows: BenchRow[] = [];
    for (const configuration of selected) {
      const k = configuration.key;
      const runs = results.get(k)!;
      const missing = runs.reduce((sum, m) => sum + m.missing, 0);
      const helper = med(k, (m) => m.helperCpuMicrosPerWrite);
      const client = `the load generator's process spends ${Math.round(
        med(k, (m) => m.clientCpuMicrosPerWrite),
      )}`;
      rows.push(
        {
          metric: `${configuration.label}: acked writes/s`,
          value: med(k, (m) => m.writesPerSecond),
          unit: "writes/s",
          note: `${writes} writes × ${repetitions} after ${warmupWrites(writes)} not measured, ${IN_FLIGHT} in flight${spread(
            runs.map((m) => m.writesPerSecond),
          )}; ${configuration.acks}`,
        },
        { metric: `${configuration.label}: latency p50`, value: med(k, (m) => m.p50), unit: "ms" },
        { metric: `${configuration.label}: latency p99`, value: med(k, (m) => m.p99), unit: "ms" },
        {
          metric: `${configuration.label}: propagation p50`,
          value: med(k, (m) => m.propagationP50),
          unit: "ms",
          note: runs[0]!.note,
        },
        {
          metric: `${configuration.label}: propagation p99`,
          value: med(k, (m) => m.propagationP99),
          unit: "ms",
          note: missing > 0 ? `${missing} writes never seen` : undefined,
        },
        {
          metric: `${configuration.label}: CPU per acked write`,
          value: med(k, (m) => m.cpuMicrosPerWrite),
          unit: "CPU-µs",
          note:
            helper > 0
              ? `all node processes, probe answers taken off (raw ${Math.round(
                  med(k, (m) => m.rawCpuMicrosPerWrite),
                )}, of which main threads ${Math.round(
                  med(k, (m) => m.mainCpuMicrosPerWrite),
                )}; the nats-server adds ${Math.round(helper)}; ${med(
                  k,
                  (m) => m.writeCallsPerWrite,
                ).toFixed(2)} write system calls per write; ${client})`
              : `all server processes (${client})`,
        },
      );
    }
    rows.push(...targets(selected, med));
    return rows;
  },
};

/** The runs' lowest and highest figures, so a reader sees how far one run may stray from the
 * median on a shared machine. */
function spread(values: readonly number[]): string {
  if (values.length < 2) return "";
  return ` (runs ${formatValue(Math.min(...values))}–${formatValue(Math.max(...values))})`;
}

/** The targets, as ratios of medians from this run; skipped when a side did not run. */
function targets(
  selected: readonly Configuration[],
  med: (key: string, pick: (m: Measured) => number) => number,
): BenchRow[] {
  const ran = new Set(selected.map((c) => c.key));
  const has = (...keys: string[]) => keys.every((k) => ran.has(k));
  const rate = (k: string) => med(k, (m) => m.writesPerSecond);
  const cpu = (k: string) => med(k, (m) => m.cpuMicrosPerWrite);
  const p99 = (k: string) => med(k, (m) => m.p99);
  const propagationP99 = (k: string) => med(k, (m) => m.propagationP99);
  // A durable fleet does all that the same fleet in memory does, and writes to disk besides:
  // the memory fleet's ratio in the same run is what the durable ratio could reach were the
  // disk free.
  const inMemory = (memory: string, kv: string, ratio: (k: string) => number, what: string) =>
    has(memory, kv)
      ? `the same fleet in memory (no disk), same run: ${(ratio(memory) / ratio(kv)).toFixed(2)}× the KV's ${what}`
      : undefined;
  const durableRate = (label: string, durable: string, memory: string, kv: string) =>
    atLeast(label, rate(durable) / rate(kv), "×", 1, inMemory(memory, kv, rate, "writes/s"));
  const rows: BenchRow[] = [];
  if (has("rs3-dur", "kv-r3")) {
    rows.push(
      durableRate("3 durable nodes / KV R3, writes/s", "rs3-dur", "rs3-mem", "kv-r3"),
      atMost(
        "3 durable nodes p99 / KV R3 p99",
        p99("rs3-dur") / p99("kv-r3"),
        "×",
        1,
        inMemory("rs3-mem", "kv-r3", p99, "p99"),
      ),
    );
  }
  // The same ratios for JetStream KV (R3 against R1), where both ran: how far three replicas
  // cost the reference system on this machine, beside what the targets ask of regsync.
  const kvScaling = (pick: (k: string) => number, what: string) =>
    has("kv-r3", "kv-r1")
      ? `JetStream KV R3 / R1, same run: ${(pick("kv-r3") / pick("kv-r1")).toFixed(2)}× the ${what}`
      : undefined;
  if (has("rs3-mem", "rs1-mem"))
    rows.push(
      atLeast(
        "3 memory nodes / 1 memory node, writes/s",
        rate("rs3-mem") / rate("rs1-mem"),
        "×",
        0.9,
        kvScaling(rate, "writes/s"),
      ),
    );
  if (has("rs1-dur", "kv-r1"))
    rows.push(durableRate("1 durable node / KV R1, writes/s", "rs1-dur", "rs1-mem", "kv-r1"));
  if (has("rs3-mem", "rs1-mem"))
    rows.push(
      atMost(
        "CPU per write, 3 / 1 nodes (memory)",
        cpu("rs3-mem") / cpu("rs1-mem"),
        "×",
        1.5,
        kvScaling(cpu, "CPU per write"),
      ),
    );
  if (has("rs3-dur", "rs1-dur"))
    rows.push(
      atMost(
        "CPU per write, 3 / 1 nodes (durable)",
        cpu("rs3-dur") / cpu("rs1-dur"),
        "×",
        1.5,
        kvScaling(cpu, "CPU per write"),
      ),
    );
  if (has("rs3-dur"))
    rows.push(
      atMost(
        "propagation p99, 3 durable nodes",
        propagationP99("rs3-dur"),
        "ms",
        8,
        has("kv-r3")
          ? `JetStream KV R3's watcher, same run: ${propagationP99("kv-r3").toFixed(1)} ms`
          : undefined,
      ),
    );
  if (has("rs5-dur"))
    rows.push(atMost("propagation p99, 5 durable nodes", propagationP99("rs5-dur"), "ms", 20));
  for (const c of selected) {
    if (!ran.has(`${c.key}-base`)) continue;
    const base = `${c.key}-base`;
    rows.push(
      {
        metric: `${c.label}: writes/s, this build / baseline`,
        value: rate(c.key) / rate(base),
        unit: "×",
      },
      {
        metric: `${c.label}: CPU per write, this build / baseline`,
        value: cpu(c.key) / cpu(base),
        unit: "×",
      },
      {
        metric: `${c.label}: p99, this build / baseline`,
        value: p99(c.key) / p99(base),
        unit: "×",
      },
    );
  }
  return rows;
}

/**
 * Writes before the measurement starts: 40% of the run, at most WARMUP_WRITES, or
 * `REGSYNC_BENCH_WRITES_WARMUP`. A node runs for days; the figures are its steady state, not
 * its JIT's first seconds. After 2,000 writes the nodes of a 3-node fleet were still compiling
 * (TurboFan on V8's helper threads was 5% of their CPU, `perf` mid-run, 319 optimisations a
 * node in all), and the measured CPU per write came out 1.19× (memory) and 1.20× (durable)
 * what it does after 20,000 (docs/performance.md, tenth pass).
 */
function warmupWrites(writes: number): number {
  const fromEnv = positiveWholeEnv("REGSYNC_BENCH_WRITES_WARMUP", 100);
  return fromEnv ?? Math.min(WARMUP_WRITES, Math.ceil(writes * 0.4));
}

/** `REGSYNC_BENCH_WRITES_COUNT` sets the writes per run (a longer profile, a shorter check). */
function writesPerRun(quick: boolean): number {
  return positiveWholeEnv("REGSYNC_BENCH_WRITES_COUNT", 100) ?? (quick ? 5_000 : 50_000);
}

/** `REGSYNC_BENCH_WRITES_REPETITIONS`: more alternated runs of each, for a steadier median on a
 * noisy machine. */
function repetitionsPerConfiguration(quick: boolean): number {
  return positiveWholeEnv("REGSYNC_BENCH_WRITES_REPETITIONS", 1) ?? (quick ? 1 : 3);
}

/** A whole number of at least `min` from the environment variable `name`, if it is set. */
function positiveWholeEnv(name: string, min: number): number | undefined {
  const text = process.env[name];
  if (!text) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name}: ${text} is not a whole number >= ${min}`);
  return value;
}

/**
 * `REGSYNC_BENCH_WRITES=rs3-dur,kv-r3` runs only those configurations (profiling, quick checks).
 * `REGSYNC_BENCH_BASELINE_CLI=<other checkout>/dist/src/cli/main.js` adds a twin of every regsync
 * configuration running that build, alternated with this one, to measure a change in one run.
 */
function selectedConfigurations(): Configuration[] {
  const only = process.env.REGSYNC_BENCH_WRITES;
  const selected = only ? named(only) : CONFIGURATIONS;
  const baseline = baselineCli();
  if (!baseline) return selected;
  return selected.flatMap((c) => {
    const fleet = c.fleet;
    if (fleet === undefined) return [c];
    return [
      c,
      {
        key: `${c.key}-base`,
        label: `${c.label} (baseline)`,
        acks: c.acks,
        start: () => regsyncFleet(fleet.size, fleet.durable, `${c.key}-base`, baseline),
      },
    ];
  });
}

function named(only: string): Configuration[] {
  const keys = only.split(",").map((k) => k.trim());
  const unknown = keys.filter((k) => !CONFIGURATIONS.some((c) => c.key === k));
  if (unknown.length > 0)
    throw new Error(
      `REGSYNC_BENCH_WRITES: unknown ${unknown.join(", ")}; known: ${CONFIGURATIONS.map((c) => c.key).join(", ")}`,
    );
  return CONFIGURATIONS.filter((c) => keys.includes(c.key));
}

export default scenario;
