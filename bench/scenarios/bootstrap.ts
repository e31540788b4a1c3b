/**
 * A new, empty node joins a registry of N entries and streams it from one peer: time to ready,
 * entries per second, bytes on the wire against the raw msgpack, and the new node's peak RSS
 * (VmHWM of its own process, which is why it runs as a child process). Three new nodes join in
 * turn (medians), and a NATS KV watcher catching up on a bucket of the same entries is measured
 * in the same run as the yardstick.
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { NODE_RUNTIME_FLAGS } from "../../src/cli/runtime-flags.js";
import { freePort, startNatsServer } from "../../src/dev/nats-server.js";
import { WorkerFleet } from "../fleet/fleet.js";
import { kvWatchCatchUp } from "../fleet/kv-watch-baseline.js";
import { atLeast, atMost, type BenchContext, median, type Scenario } from "../scenario.js";

/** New nodes joining in turn; the table shows medians (peak RSS: the largest). */
const JOINS = 3;
/** The KV watcher's bucket: the size the issue quotes its catch-up rate for. */
const KV_ENTRIES = 100_000;

function peakRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function counter(metrics: string, direction: string, stage: string): number {
  const match = new RegExp(
    `regsync_sync_bytes_total\\{direction="${direction}",stage="${stage}"\\} (\\d+)`,
  ).exec(metrics);
  return Number(match?.[1] ?? Number.NaN);
}

interface Join {
  /** Start of the process to ready. */
  seconds: number;
  /** The node's own account of the streaming part, from its "bootstrap complete" log line. */
  streamedSeconds: number;
  streamedPerSecond: number;
  waitedSeconds: number;
  rawBytes: number;
  wireBytes: number;
  peakRss: number;
}

/** Starts a new, empty node on `natsUrl` and waits until it reports ready. */
async function join(natsUrl: string, id: string, context: BenchContext): Promise<Join> {
  const httpPort = await freePort();
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...(process.env.REGSYNC_BENCH_PROFILE
        ? ["--cpu-prof", `--cpu-prof-dir=${process.env.REGSYNC_BENCH_PROFILE}`]
        : []),
      ...NODE_RUNTIME_FLAGS,
      "dist/src/cli/main.js",
      "node",
      "--nats",
      natsUrl,
      "--id",
      id,
      "--memory",
      "--http-listen",
      `127.0.0.1:${httpPort}`,
      "--log-level",
      "info",
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, REGSYNC_LOG_FORMAT: "json" } },
  );
  let streamed: { seconds: number; perSecond: number } | undefined;
  child.stdout?.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) {
      if (line.includes("bootstrap progress")) context.log(line.slice(0, 200));
      if (line.includes("bootstrap complete")) streamed = JSON.parse(line);
    }
  });
  let peak = 0;
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      peak = Math.max(peak, peakRss(child.pid!));
      const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error("the new node did not become ready within 120 s");
      await sleep(50);
    }
    const seconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, peakRss(child.pid!));
    const metrics = await fetch(`http://127.0.0.1:${httpPort}/metrics`).then((r) => r.text());
    return {
      seconds,
      streamedSeconds: streamed?.seconds ?? Number.NaN,
      streamedPerSecond: streamed?.perSecond ?? Number.NaN,
      waitedSeconds: Number(
        /^regsync_pull_wait_seconds_total (\S+)$/m.exec(metrics)?.[1] ?? Number.NaN,
      ),
      rawBytes: counter(metrics, "in", "raw"),
      wireBytes: counter(metrics, "in", "wire"),
      peakRss: peak,
    };
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  }
}

const scenario: Scenario = {
  name: "bootstrap",
  description: "an empty node streams a registry of N entries from one peer",
  async run(context) {
    const n = context.quick ? 100_000 : 1_000_000;
    const joins: Join[] = [];
    const server = await startNatsServer({ monitor: true });
    try {
      context.log(`preloading ${n} entries into the source node`);
      const fleet = await WorkerFleet.start([
        {
          config: {
            nats: [server.url],
            id: "source",
            memory: true,
            httpListen: "",
            logLevel: "warn",
          },
          preload: n,
        },
      ]);
      try {
        for (let r = 1; r <= (context.quick ? 1 : JOINS); r++) {
          context.log(`new node ${r}`);
          joins.push(await join(server.url, `fresh-${r}`, context));
        }
      } finally {
        await fleet.stop();
      }
    } finally {
      await server.stop();
    }
    const kvEntries = context.quick ? 20_000 : KV_ENTRIES;
    context.log(`NATS KV watcher over ${kvEntries} entries`);
    const kv = await kvWatchCatchUp(kvEntries);

    const of = (pick: (j: Join) => number) => median(joins.map(pick));
    const seconds = of((j) => j.seconds);
    const rate = n / seconds;
    const wire = of((j) => j.wireBytes);
    const raw = of((j) => j.rawBytes);
    const runs = `median of ${joins.length}`;
    return [
      atMost(
        `bootstrap ${n.toLocaleString("en-US")} entries: start to ready`,
        seconds,
        "s",
        context.quick ? 1 : 10,
        `${runs} (${joins.map((j) => j.seconds.toFixed(2)).join(", ")}); includes process start`,
      ),
      atLeast("bootstrap rate", rate, "entries/s", 100_000, runs),
      {
        metric: "of which streaming (first pull → last entry applied)",
        value: of((j) => j.streamedSeconds),
        unit: "s",
        note: `${Math.round(of((j) => j.streamedPerSecond)).toLocaleString("en-US")} entries/s while streaming; the rest is process start, connect and discovery`,
      },
      {
        metric: "of which the new node waited for pages",
        value: of((j) => j.waitedSeconds),
        unit: "s",
        note: "regsync_pull_wait_seconds_total; the rest it spent merging",
      },
      {
        metric: `NATS KV watcher catch-up, ${kvEntries.toLocaleString("en-US")} entries`,
        value: kv.perSecond,
        unit: "entries/s",
        note: `the yardstick, same run: bootstrap start to ready is ${(rate / kv.perSecond).toFixed(2)}× its rate`,
      },
      atMost(
        "wire bytes / raw msgpack",
        (wire / raw) * 100,
        "%",
        40,
        `${(wire / 1e6).toFixed(1)} MB on the wire, ${(raw / 1e6).toFixed(1)} MB raw`,
      ),
      atMost(
        "peak RSS of the new node",
        Math.max(...joins.map((j) => j.peakRss)) / 1e6,
        "MB",
        1_500,
        `largest of ${joins.length}`,
      ),
    ];
  },
};

export default scenario;
