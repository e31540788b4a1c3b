/**
 * Soak: 5 nodes under a sustained write rate with lookups running. RSS is sampled over time and
 * must plateau; at the end every node must hold the same digest.
 * REGSYNC_BENCH_SOAK_SECONDS (default 60, quick 15) and REGSYNC_BENCH_SOAK_RATE (writes/s, default 2000).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "nats";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { WorkerFleet } from "../fleet/fleet.js";
import { atLeast, atMost, type BenchRow, type Scenario } from "../scenario.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const KEYSPACE = 20_000;

async function fleetDigests(nc: NatsConnection): Promise<string[]> {
  const replies = await nc.requestMany("registry.status", encoder.encode("{}"), {
    maxWait: 1_000,
    maxMessages: 5,
  });
  const digests: string[] = [];
  for await (const reply of replies)
    digests.push((JSON.parse(decoder.decode(reply.data)) as { digest: string }).digest);
  return digests;
}

const scenario: Scenario = {
  name: "soak",
  description: "5 nodes, sustained writes and lookups: RSS over time, errors, convergence",
  async run(context) {
    const seconds = Number(process.env.REGSYNC_BENCH_SOAK_SECONDS ?? (context.quick ? 15 : 60));
    const rate = Number(process.env.REGSYNC_BENCH_SOAK_RATE ?? 2_000);
    const server = await startNatsServer();
    const fleet = await WorkerFleet.start(
      Array.from({ length: 5 }, (_, i) => ({
        config: {
          nats: [server.url],
          id: `s${i + 1}`,
          memory: true,
          httpListen: "",
          logLevel: "warn",
          syncIntervalMs: 1_000,
        },
      })),
    );
    const nc = await connect({ servers: server.url });
    const samples: { t: number; rss: number }[] = [];
    let acked = 0;
    let errors = 0;
    let lookups = 0;
    try {
      const started = performance.now();
      const end = started + seconds * 1000;
      const sampler = setInterval(
        () => samples.push({ t: performance.now() - started, rss: process.memoryUsage().rss }),
        1_000,
      );
      let sent = 0;
      const writer = async () => {
        while (performance.now() < end) {
          const due = started + (sent * 1000) / rate;
          const wait = due - performance.now();
          if (wait > 1) await sleep(wait);
          const i = sent++;
          const body = {
            service: `svc${i % 50}`,
            id: `i${i % KEYSPACE}`,
            host: "10.0.0.1",
            port: 8080 + (i % 7),
            status: "running",
            ttlMs: 120_000,
          };
          try {
            const reply = await nc.request(
              "registry.register",
              encoder.encode(JSON.stringify(body)),
              { timeout: 5_000 },
            );
            if (reply.data[6] === 0x74) acked++;
            else errors++;
          } catch {
            errors++;
          }
        }
      };
      const reader = async () => {
        while (performance.now() < end) {
          try {
            await nc.request(
              "registry.lookup",
              encoder.encode(JSON.stringify({ service: `svc${lookups % 50}` })),
              { timeout: 5_000 },
            );
            lookups++;
          } catch {
            errors++;
          }
          await sleep(10);
        }
      };
      await Promise.all([...Array.from({ length: 32 }, writer), reader()]);
      clearInterval(sampler);
      const settle = performance.now();
      let digests = await fleetDigests(nc);
      while (new Set(digests).size !== 1 && performance.now() - settle < 30_000) {
        await sleep(200);
        digests = await fleetDigests(nc);
      }
      const convergeMs = performance.now() - settle;
      const third = samples.filter((s) => s.t >= (seconds * 1000) / 3);
      const early = third[0]?.rss ?? samples[0]!.rss;
      const peak = Math.max(...samples.map((s) => s.rss));
      const last = samples.at(-1)!.rss;
      context.log(`RSS samples (MB): ${samples.map((s) => Math.round(s.rss / 1e6)).join(" ")}`);
      const rows: BenchRow[] = [
        {
          metric: `writes acked over ${seconds} s (target ${rate}/s)`,
          value: acked / seconds,
          unit: "writes/s",
        },
        { metric: "lookups served", value: lookups, unit: "lookups" },
        atMost("errors (timeouts, error replies)", errors, "errors", 0),
        atMost("peak RSS, fleet process (5 nodes)", peak / 1e6, "MB", 1_500),
        atMost(
          "RSS growth from 1/3 of the run to the end",
          ((last - early) / early) * 100,
          "%",
          25,
          `${Math.round(early / 1e6)} → ${Math.round(last / 1e6)} MB`,
        ),
        atMost(
          "convergence after the load stops",
          convergeMs,
          "ms",
          5_000,
          `${new Set(digests).size} distinct digest(s) among ${digests.length} nodes`,
        ),
        atLeast(
          "nodes converged",
          digests.length === 5 && new Set(digests).size === 1 ? 1 : 0,
          "bool",
          1,
        ),
      ];
      return rows;
    } finally {
      await nc.close();
      await fleet.stop();
      await server.stop();
    }
  },
};

export default scenario;
