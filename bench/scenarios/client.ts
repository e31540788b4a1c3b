/**
 * What the registry's client costs the service that runs it: CPU-µs per `register` call and calls
 * per second, one client keeping 64 registrations in flight against one memory node (a `regsync
 * node` process), on the connection `RegistryClient.connect()` opens against one with nats.js's
 * defaults, which capture two stack traces per request in case it times out. Alternated, medians.
 */
import { type ConnectionOptions, connect } from "nats";
import { RegistryClient } from "../../src/client/mod.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { connectionOptions } from "../../src/nats/connection.js";
import { syntheticInstance } from "../fleet/synthetic.js";
import { type BenchContext, type BenchRow, inTurn, median, type Scenario } from "../scenario.js";
import { closedLoop } from "../writes/closed-loop.js";
import { startNodeProcess } from "../writes/node-process.js";

const IN_FLIGHT = 64;
/** Leases long enough that nothing expires during a run. */
const LEASE_MS = 600_000;

interface Way {
  label: string;
  options: (url: string) => ConnectionOptions;
}

const WAYS: Way[] = [
  {
    label: "connect()'s connection",
    options: (url) => connectionOptions({ servers: [url], name: "bench-client" }),
  },
  { label: "nats.js defaults (async traces)", options: (url) => ({ servers: url }) },
];

async function run(context: BenchContext): Promise<BenchRow[]> {
  const calls = context.quick ? 5_000 : 20_000;
  const repetitions = context.quick ? 3 : 5;
  const server = await startNatsServer();
  const node = await startNodeProcess({ id: "client-bench", natsUrl: server.url });
  let offset = 0;
  const measure = async (way: Way, count: number) => {
    const nc = await connect(way.options(server.url));
    const client = new RegistryClient(nc);
    const first = offset;
    offset += count;
    const before = process.cpuUsage();
    const load = await closedLoop(count, IN_FLIGHT, async (i) => {
      await client.register(syntheticInstance(first + i, LEASE_MS), { keepAlive: false });
    });
    const cpu = process.cpuUsage(before);
    await nc.close();
    return { micros: (cpu.user + cpu.system) / load.acked, rate: load.acked / load.seconds };
  };
  const results = new Map<string, { micros: number; rate: number }[]>(
    WAYS.map((w) => [w.label, []]),
  );
  try {
    // Warm-up: the JIT and the node's first pages, outside the measurement.
    for (const way of WAYS) await measure(way, Math.ceil(calls / 4));
    for (let rep = 0; rep < repetitions; rep++) {
      for (const way of inTurn(WAYS, rep)) {
        const m = await measure(way, calls);
        context.log(
          `rep ${rep + 1}/${repetitions}, ${way.label}: ${m.micros.toFixed(1)} CPU-µs/call, ${Math.round(m.rate)} calls/s`,
        );
        results.get(way.label)!.push(m);
      }
    }
  } finally {
    await node.stop();
    await server.stop();
  }
  const note = `${calls} calls × ${repetitions}, ${IN_FLIGHT} in flight, one memory node`;
  const med = (label: string, pick: (m: { micros: number; rate: number }) => number) =>
    median(results.get(label)!.map(pick));
  return [
    ...WAYS.flatMap((w) => [
      {
        metric: `register, ${w.label}: client CPU per call`,
        value: med(w.label, (m) => m.micros),
        unit: "CPU-µs",
        note,
      },
      {
        metric: `register, ${w.label}: calls/s`,
        value: med(w.label, (m) => m.rate),
        unit: "calls/s",
      },
    ]),
    {
      metric: "client CPU per call, connect() / nats.js defaults",
      value: med(WAYS[0]!.label, (m) => m.micros) / med(WAYS[1]!.label, (m) => m.micros),
      unit: "×",
    },
  ];
}

const scenario: Scenario = {
  name: "client",
  description: "the registry client's CPU per register call and calls/s, against nats.js defaults",
  run,
};

export default scenario;
