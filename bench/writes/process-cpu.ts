import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system, µs) a process has used so far, from /proc/<pid>/stat. Read from
 * outside, so the figure covers every thread of the process (V8's GC and compiler threads,
 * libuv's pool, LMDB's writes) without the process reporting on itself.
 */
export function processCpuMicros(pid: number): number {
  return statCpuMicros(`/proc/${pid}/stat`);
}

/** CPU time of a process's main thread (whose thread id is the process id), µs: the event loop,
 * without GC helpers, compiler threads, libuv's pool or LMDB's writer. */
export function mainThreadCpuMicros(pid: number): number {
  return statCpuMicros(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuMicros(path: string): number {
  const stat = readFileSync(path, "utf8");
  // The command name (field 2) is in parentheses and may hold spaces: fields count from after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1_000_000) / TICKS_PER_SECOND;
}

/** The summed CPU time of several processes (or, with `read`, of their main threads), µs. */
export function fleetCpuMicros(
  pids: readonly number[],
  read: (pid: number) => number = processCpuMicros,
): number {
  return sumOver(pids, read);
}

/** Write system calls a process has made so far (`write`, `writev`, `pwrite`: /proc/<pid>/io's
 * syscw): its socket writes, and a durable node's page writes and wake-ups of its event loop. */
function processWriteCalls(pid: number): number {
  const match = /^syscw: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
  return match === null ? 0 : Number(match[1]);
}

/** The write system calls of several processes so far. */
export function fleetWriteCalls(pids: readonly number[]): number {
  return sumOver(pids, processWriteCalls);
}

function sumOver(pids: readonly number[], read: (pid: number) => number): number {
  let total = 0;
  for (const pid of pids) total += read(pid);
  return total;
}
