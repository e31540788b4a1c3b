/**
 * Breaks a Linux `perf` recording of node processes down by what their threads were doing,
 * kernel and native code included, where `--cpu-prof` (profile-summary.ts) sees the main
 * thread's JavaScript only:
 *
 *   perf record -F 999 -g -p <pid,pid,…> -o perf.data -- sleep 5
 *   perf script -i perf.data | node dist/bench/perf-summary.js --main <pid,pid,…>
 *
 * `--main` names the main threads (a process's main thread has its pid as thread id); every
 * other thread is V8's helpers, libuv's pool or LMDB's writer. Start the nodes with
 * `--perf-basic-prof` (`REGSYNC_BENCH_NODE_FLAGS=--perf-basic-prof npm run bench -- writes`) so
 * JIT-compiled frames have names: a sample is filed by its native frames up to the first
 * JavaScript frame, so a page fault under a string concatenation counts as page zeroing, and a
 * sample inside JavaScript as "JS and V8 runtime". Shares of all samples, by thread kind.
 */
import { readFileSync } from "node:fs";

export type ThreadKind = "main" | "other";

interface Category {
  name: string;
  /** Matches one native frame's symbol (and library). */
  pattern: RegExp;
}

/** In priority order: the first that matches any native frame of a sample takes it. */
export const PERF_CATEGORIES: readonly Category[] = [
  {
    name: "GC",
    pattern:
      /Scaveng|MarkCompact|ConcurrentMarking|IncrementalMarking|MarkingBarrier|Sweeper|MinorMC|Heap::(CollectGarbage|PerformGarbageCollection)|Evacuat|ArrayBufferSweeper/,
  },
  { name: "page zeroing (kernel, first touch)", pattern: /clear_page/ },
  { name: "disk (kernel)", pattern: /ext4|blk_|jbd2|virtio|fdatasync|sys_pwrite64|sys_msync/ },
  { name: "network (kernel)", pattern: /tcp_|sock_|sys_writev|ksys_write|ksys_read|sys_recvfrom/ },
  {
    name: "switches, waits, interrupts (kernel)",
    pattern: /finish_task_switch|__schedule|futex|epoll_pwait|irqentry_exit|asm_sysvec/,
  },
  { name: "other kernel", pattern: /\[kernel/ },
  { name: "JSON parse and stringify", pattern: /JsonParser|JsonStringifier/ },
  { name: "compilers (TurboFan and others)", pattern: /compiler::|Compiler::|maglev::|baseline::/ },
  { name: "LMDB native", pattern: /mdb_|WriteWorker|lmdb\.node|node\.abi\d+/ },
];
export const JS_AND_RUNTIME = "JS and V8 runtime";

export interface PerfSample {
  tid: number;
  /** Frames, innermost first: "symbol (library)". */
  frames: string[];
}

/** The samples of `perf script` output: a header line ("comm tid …"), frames, a blank line. */
export function parsePerfScript(text: string): PerfSample[] {
  const samples: PerfSample[] = [];
  let current: PerfSample | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (current !== undefined) samples.push(current);
      current = undefined;
    } else if (!/^\s/.test(line)) {
      if (current !== undefined) samples.push(current);
      const tid = Number(line.trim().split(/\s+/)[1]);
      current = Number.isInteger(tid) ? { tid, frames: [] } : undefined;
    } else if (current !== undefined) {
      // "    d91a48 v8::internal::Scavenger::ScavengeObject<…>+0x18 (/usr/bin/node)"
      current.frames.push(line.trim().replace(/^[0-9a-f]+\s+/, ""));
    }
  }
  if (current !== undefined) samples.push(current);
  return samples;
}

/** A JIT frame named by `--perf-basic-prof` ("JS:*serve file:///…"). */
function isJavaScript(frame: string): boolean {
  return frame.startsWith("JS:");
}

export function categoryOf(sample: PerfSample): string {
  const native: string[] = [];
  for (const frame of sample.frames) {
    if (isJavaScript(frame)) break;
    native.push(frame);
  }
  for (const category of PERF_CATEGORIES)
    if (native.some((frame) => category.pattern.test(frame))) return category.name;
  return JS_AND_RUNTIME;
}

/** Samples by thread kind and category, and the total. */
export function summarisePerf(
  samples: readonly PerfSample[],
  mainThreads: ReadonlySet<number>,
): { counts: Map<string, number>; total: number } {
  const counts = new Map<string, number>();
  for (const sample of samples) {
    const kind: ThreadKind = mainThreads.has(sample.tid) ? "main" : "other";
    const key = `${kind}\t${categoryOf(sample)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return { counts, total: samples.length };
}

function main(): void {
  const args = process.argv.slice(2);
  const at = args.indexOf("--main");
  const pids = at >= 0 ? (args[at + 1] ?? "").split(",").map(Number) : [];
  if (pids.length === 0 || pids.some((p) => !Number.isInteger(p) || p <= 0)) {
    console.error(
      "usage: perf script | perf-summary --main <pid,pid,…> [FILE]  (--main: the nodes' pids)",
    );
    process.exit(2);
  }
  const file = args.find((a, i) => !a.startsWith("--") && i !== at + 1);
  const samples = parsePerfScript(readFileSync(file ?? 0, "utf8"));
  if (samples.length === 0) {
    console.error("no samples: pipe `perf script` output in, or name a file that holds it");
    process.exit(2);
  }
  const { counts, total } = summarisePerf(samples, new Set(pids));
  const mainShare = [...counts]
    .filter(([key]) => key.startsWith("main\t"))
    .reduce((sum, [, n]) => sum + n, 0);
  console.log(`${total} samples; main threads ${((100 * mainShare) / total).toFixed(1)}%`);
  for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1])) {
    const [kind, name] = key.split("\t");
    console.log(`${`${((100 * n) / total).toFixed(1)}%`.padStart(6)}  ${kind!.padEnd(5)}  ${name}`);
  }
}

if (process.argv[1]?.endsWith("perf-summary.js")) main();
