/**
 * Registry nodes as real processes, started the way operators start them (`regsync node`, with
 * the V8 flags the executable gives a node: src/cli/runtime-flags.ts), so the bench measures
 * what a deployment runs: one event loop per node, its own GC, its own LMDB.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NODE_RUNTIME_FLAGS } from "../../src/cli/runtime-flags.js";
import { trackChild } from "../../src/dev/leftovers.js";
import { freePort } from "../../src/dev/nats-server.js";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
/** How long a node may take to report ready on a loaded machine. */
const READY_TIMEOUT_MS = 30_000;
/** How long a node may take to stop (and write its CPU profile) after SIGTERM. */
const STOP_TIMEOUT_MS = 15_000;
/**
 * Set to a directory to run every node under `node --cpu-prof`; each writes a .cpuprofile
 * there when it stops. `bench/profile-summary.ts` breaks them down by category.
 */
export const CPU_PROFILE_DIR_ENV = "REGSYNC_BENCH_CPU_PROF_DIR";
/** Further node flags for every node the benchmarks start, space-separated: profiling with
 * Linux `perf` wants `--perf-basic-prof` (bench/perf-summary.ts). */
export const NODE_FLAGS_ENV = "REGSYNC_BENCH_NODE_FLAGS";

export interface NodeProcessOptions {
  id: string;
  natsUrl: string;
  /** Keep the replica in memory; otherwise in `dataDir` (LMDB, durable). */
  dataDir?: string;
  subjectPrefix?: string;
  /** The regsync CLI to run (another build, to compare against a baseline). @default this build's */
  cli?: string;
}

export interface NodeProcess {
  readonly id: string;
  readonly pid: number;
  /** The node's Prometheus metrics, as text. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startNodeProcess(options: NodeProcessOptions): Promise<NodeProcess> {
  const httpPort = await freePort();
  const args = [
    options.cli ?? CLI,
    "node",
    "--nats",
    options.natsUrl,
    "--id",
    options.id,
    "--http-listen",
    `127.0.0.1:${httpPort}`,
    "--log-level",
    "warn",
  ];
  if (options.subjectPrefix !== undefined) args.push("--subject-prefix", options.subjectPrefix);
  if (options.dataDir === undefined) args.push("--memory");
  else args.push("--data-dir", options.dataDir);
  const profileDir = process.env[CPU_PROFILE_DIR_ENV];
  const nodeArgs: string[] = [...NODE_RUNTIME_FLAGS, ...extraNodeFlags()];
  if (profileDir) {
    mkdirSync(profileDir, { recursive: true });
    nodeArgs.push(
      "--cpu-prof",
      "--cpu-prof-dir",
      profileDir,
      "--cpu-prof-name",
      `${options.id}-${Date.now()}.cpuprofile`,
    );
  }
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  // A bench that dies (an error, Ctrl-C) leaves no node behind.
  trackChild(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await waitReady(child, `http://127.0.0.1:${httpPort}/readyz`);
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    throw new Error(`node ${options.id} did not start: ${(error as Error).message}\n${stderr}`);
  }
  return {
    id: options.id,
    pid: child.pid!,
    metrics: async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const escalate = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      child.kill("SIGTERM");
      await exited;
      clearTimeout(escalate);
    },
  };
}

async function waitReady(child: ChildProcess, url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`it exited with code ${child.exitCode}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not ready within ${READY_TIMEOUT_MS} ms`);
}

/** The sum over nodes' `/metrics` texts of one Prometheus counter series, `name{labels}`. */
export function counterSum(texts: readonly string[], series: string): number {
  let sum = 0;
  for (const text of texts)
    for (const line of text.split("\n"))
      if (line.startsWith(`${series} `)) sum += Number(line.slice(series.length + 1));
  return sum;
}

/** `REGSYNC_BENCH_NODE_FLAGS`, each a `--flag` or `--flag=value`. */
function extraNodeFlags(): string[] {
  const flags = (process.env[NODE_FLAGS_ENV] ?? "").split(/\s+/).filter((f) => f !== "");
  const bad = flags.find((f) => !f.startsWith("--"));
  if (bad !== undefined) throw new Error(`${NODE_FLAGS_ENV}: "${bad}" is not a --flag`);
  return flags;
}
