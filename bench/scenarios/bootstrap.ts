/**
 * A new, empty node joins a registry of N entries and streams it from one peer: time to ready,
 * entries per second, bytes on the wire against the raw msgpack, and the new node's peak RSS
 * (VmHWM of its own process, which is why it runs as a child process).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { NODE_RUNTIME_FLAGS } from "../../src/cli/runtime-flags.js";
import { freePort, startNatsServer } from "../../src/dev/nats-server.js";
import { WorkerFleet } from "../fleet/fleet.js";
import { atLeast, atMost, type BenchRow, type Scenario } from "../scenario.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

const scenario: Scenario = {
  name: "bootstrap",
  description: "an empty node streams a registry of N entries from one peer",
  async run(context) {
    const n = context.quick ? 100_000 : 1_000_000;
    const server = await startNatsServer({ monitor: true });
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
        server.url,
        "--id",
        "fresh",
        "--memory",
        "--http-listen",
        `127.0.0.1:${httpPort}`,
        "--log-level",
        "info",
      ],
      { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, REGSYNC_LOG_FORMAT: "json" } },
    );
    // The node's own account of the streaming part, from its "bootstrap complete" log line.
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
        if (Date.now() > deadline)
          throw new Error("the new node did not become ready within 120 s");
        await sleep(50);
      }
      const seconds = (performance.now() - started) / 1000;
      peak = Math.max(peak, peakRss(child.pid!));
      const metrics = await fetch(`http://127.0.0.1:${httpPort}/metrics`).then((r) => r.text());
      const waited = Number(
        /^regsync_pull_wait_seconds_total (\S+)$/m.exec(metrics)?.[1] ?? Number.NaN,
      );
      const raw = counter(metrics, "in", "raw");
      const wire = counter(metrics, "in", "wire");
      const rows: BenchRow[] = [
        atMost(
          `bootstrap ${n.toLocaleString("en-US")} entries: start to ready`,
          seconds,
          "s",
          context.quick ? 1 : 10,
          "includes process start",
        ),
        atLeast("bootstrap rate", n / seconds, "entries/s", 100_000),
        {
          metric: "of which streaming (first pull → last entry applied)",
          value: streamed?.seconds ?? Number.NaN,
          unit: "s",
          note: `${Math.round(streamed?.perSecond ?? 0).toLocaleString("en-US")} entries/s while streaming; the rest is process start, connect and discovery`,
        },
        {
          metric: "of which the new node waited for pages",
          value: waited,
          unit: "s",
          note: "regsync_pull_wait_seconds_total; the rest it spent merging",
        },
        atMost(
          "wire bytes / raw msgpack",
          (wire / raw) * 100,
          "%",
          40,
          `${(wire / 1e6).toFixed(1)} MB on the wire, ${(raw / 1e6).toFixed(1)} MB raw`,
        ),
        atMost("peak RSS of the new node", peak / 1e6, "MB", 1_500),
      ];
      return rows;
    } finally {
      child.kill("SIGTERM");
      await fleet.stop();
      await server.stop();
    }
  },
};

export default scenario;
