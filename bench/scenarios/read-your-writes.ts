/**
 * Read-your-writes under load: 3 durable `regsync node` processes take a stream of
 * registrations (48 in flight, from one connection), while a client registers an instance and
 * at once looks its service up, passing back its write's token (docs/client.md). A lookup that
 * lands on another node than the write waits until that node holds the write, or forwards it.
 * Reports the lookup's latency, median over the repetitions.
 *
 * `REGSYNC_BENCH_BASELINE_CLI=<other checkout>/dist/src/cli/main.js` runs that build's fleet
 * too, alternated with this one.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "nats";
import { RegistryClient } from "../../src/client/client.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import {
  type BenchContext,
  type BenchRow,
  comparedBuilds,
  inTurn,
  median,
  percentile,
  type Scenario,
} from "../scenario.js";
import { type NodeProcess, startNodeProcess } from "../writes/node-process.js";
import { registrationBody } from "../writes/targets.js";

const NODES = 3;
const LOAD_IN_FLIGHT = 48;
/** The load's instances are numbered from here, apart from the client's own. */
const LOAD_FIRST_INDEX = 1_000_000;
const REQUEST_TIMEOUT_MS = 30_000;

interface Measured {
  p50: number;
  p90: number;
  p99: number;
  missed: number;
  /** Load lanes stopped by a failed request (a timeout). */
  loadFailures: number;
}

async function measure(sequences: number, cli: string | undefined): Promise<Measured> {
  const server = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), "regsync-bench-ryw-"));
  const nodes: NodeProcess[] = [];
  const load = await connect({ servers: server.url });
  const own = await connect({ servers: server.url });
  let loading = true;
  const lanes: Promise<void>[] = [];
  try {
    for (let i = 1; i <= NODES; i++)
      nodes.push(
        await startNodeProcess({
          id: `r${i}`,
          natsUrl: server.url,
          dataDir: join(dir, `r${i}`),
          cli,
        }),
      );
    let next = LOAD_FIRST_INDEX;
    let loadFailures = 0;
    // A lane whose request fails (a timeout) stops, and the note says so: the bench goes on
    // under a lighter load rather than dying of an unhandled rejection.
    const lane = async () => {
      try {
        while (loading)
          await load.request("registry.register", registrationBody(next++), {
            timeout: REQUEST_TIMEOUT_MS,
          });
      } catch {
        loadFailures++;
      }
    };
    for (let i = 0; i < LOAD_IN_FLIGHT; i++) lanes.push(lane());
    await sleep(1_000); // the load settles in
    const latencies: number[] = [];
    let missed = 0;
    for (let i = 0; i < sequences; i++) {
      // A new client per sequence: its token names this one write only.
      const client = new RegistryClient(own, { prefix: "registry" });
      const id = `own-${i}`;
      await client.register(
        { service: "ryw", id, host: "10.0.0.1", port: 8000 + (i % 1000), ttlMs: 600_000 },
        { keepAlive: false },
      );
      const started = performance.now();
      const found = await client.lookup("ryw");
      latencies.push(performance.now() - started);
      if (!found.some((x) => x.id === id)) missed++;
    }
    return {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      missed,
      loadFailures,
    };
  } finally {
    loading = false;
    await Promise.all(lanes);
    await Promise.allSettled([load.close(), own.close()]);
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const scenario: Scenario = {
  name: "read-your-writes",
  description:
    "a lookup right after its own write, with the write's token, on 3 loaded durable nodes",
  async run(context: BenchContext) {
    const sequences = context.quick ? 100 : 400;
    const repetitions = context.quick ? 1 : 3;
    const builds = comparedBuilds().map(({ baseline, cli }) => ({
      label: baseline ? "baseline" : "this build",
      cli,
    }));
    const results = new Map<string, Measured[]>(builds.map((b) => [b.label, []]));
    for (let rep = 0; rep < repetitions; rep++) {
      for (const build of inTurn(builds, rep)) {
        const m = await measure(sequences, build.cli);
        context.log(
          `rep ${rep + 1}/${repetitions}, ${build.label}: lookup p50 ${m.p50.toFixed(2)} p90 ${m.p90.toFixed(2)} p99 ${m.p99.toFixed(2)} ms, ${m.missed} missed`,
        );
        results.get(build.label)!.push(m);
      }
    }
    const rows: BenchRow[] = [];
    for (const { label } of builds) {
      const runs = results.get(label)!;
      const missed = runs.reduce((sum, m) => sum + m.missed, 0);
      const loadFailures = runs.reduce((sum, m) => sum + m.loadFailures, 0);
      const note = `${sequences} register-then-lookup sequences × ${repetitions}, ${LOAD_IN_FLIGHT} registrations in flight beside them${loadFailures > 0 ? ` (${loadFailures} lanes stopped on a failed request)` : ""}`;
      rows.push(
        {
          metric: `${label}: lookup after own write, p50`,
          value: median(runs.map((m) => m.p50)),
          unit: "ms",
          note,
        },
        {
          metric: `${label}: lookup after own write, p90`,
          value: median(runs.map((m) => m.p90)),
          unit: "ms",
        },
        {
          metric: `${label}: lookup after own write, p99`,
          value: median(runs.map((m) => m.p99)),
          unit: "ms",
        },
        {
          metric: `${label}: lookups that missed their own write`,
          value: missed,
          unit: "lookups",
          target: "= 0",
          ok: missed === 0,
        },
      );
    }
    return rows;
  },
};

export default scenario;
