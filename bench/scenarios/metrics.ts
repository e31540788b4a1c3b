/**
 * What counting costs a node, per call, in one process: the counts made on every client write
 * (`requestServed`: the request counted and its duration observed; `changePublished`) and on
 * every sync message (`announced`), against the same count made through a prom-client label
 * child, the rival the tallies replaced (prom-client hashes and validates the labels on every
 * `inc`), and a duration observed alone.
 */
import { Counter, Histogram, Registry } from "prom-client";
import { NodeMetrics } from "../../src/node/metrics.js";
import { type BenchContext, type BenchRow, median, type Scenario } from "../scenario.js";

/** ns per call of `count`, run `calls` times. */
function nsPerCall(calls: number, count: () => void): number {
  const started = performance.now();
  for (let i = 0; i < calls; i++) count();
  return ((performance.now() - started) * 1e6) / calls;
}

async function run(context: BenchContext): Promise<BenchRow[]> {
  const calls = context.quick ? 200_000 : 2_000_000;
  const repetitions = context.quick ? 3 : 5;
  const metrics = new NodeMetrics();
  const registry = new Registry();
  const counter = new Counter({
    name: "rival_total",
    help: "a labelled counter counted through prom-client",
    labelNames: ["endpoint", "code"] as const,
    registers: [registry],
  });
  const histogram = new Histogram({
    name: "rival_seconds",
    help: "a labelled histogram",
    labelNames: ["endpoint"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const child = counter.labels("register", "ok");
  const durations = histogram.labels("register");
  const ways: [string, () => void][] = [
    ["requestServed (count and duration)", () => metrics.requestServed("register", "ok", 0.0012)],
    ["changePublished", () => metrics.changePublished("registered")],
    ["announced", () => metrics.announced("in", true)],
    ["prom-client label child inc (the rival)", () => child.inc()],
    ["prom-client histogram child observe", () => durations.observe(0.0012)],
  ];
  const runs = new Map<string, number[]>(ways.map(([name]) => [name, []]));
  for (let rep = 0; rep < repetitions; rep++)
    for (const [name, count] of ways) runs.get(name)!.push(nsPerCall(calls, count));
  // Read once, so the tallies are handed over as a scrape would.
  await metrics.registry.metrics();
  return ways.map(([name]) => ({
    metric: `${name}: per call`,
    value: median(runs.get(name)!),
    unit: "ns",
    note: `${calls} calls × ${repetitions}, medians`,
  }));
}

const scenario: Scenario = {
  name: "metrics",
  description: "what counting a request and a sync message costs, against prom-client's own inc",
  run,
};

export default scenario;
