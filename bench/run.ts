/**
 * Benchmark runner: `npm run bench -- [scenario…] [--quick]`. Runs the named scenarios (all by
 * default), prints one table and writes bench/results/<scenario>.json with every row and the
 * machine it ran on.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchRow, formatValue, type Scenario } from "./scenario.js";

const SCENARIOS: Record<string, () => Promise<{ default: Scenario }>> = {
  core: () => import("./scenarios/core.js"),
  fleet: () => import("./scenarios/fleet.js"),
  bootstrap: () => import("./scenarios/bootstrap.js"),
  soak: () => import("./scenarios/soak.js"),
  reconcile: () => import("./scenarios/reconcile.js"),
  limits: () => import("./scenarios/limits.js"),
  writes: () => import("./scenarios/writes.js"),
  "peer-apply": () => import("./scenarios/peer-apply.js"),
  lifecycle: () => import("./scenarios/lifecycle.js"),
  regions: () => import("./scenarios/regions.js"),
  feed: () => import("./scenarios/feed.js"),
  attacks: () => import("./scenarios/attacks.js"),
  codec: () => import("./scenarios/codec.js"),
  storage: () => import("./scenarios/storage.js"),
  "durable-group": () => import("./scenarios/durable-group.js"),
  "read-your-writes": () => import("./scenarios/read-your-writes.js"),
  metrics: () => import("./scenarios/metrics.js"),
  client: () => import("./scenarios/client.js"),
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const names = args.filter((a) => !a.startsWith("--"));
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length > 0) {
    console.error(
      `unknown scenario(s): ${unknown.join(", ")}; known: ${Object.keys(SCENARIOS).join(", ")}`,
    );
    process.exit(2);
  }
  const selected = names.length > 0 ? names : Object.keys(SCENARIOS);
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "../../bench/results");
  mkdirSync(resultsDir, { recursive: true });
  const table: (BenchRow & { scenario: string })[] = [];
  for (const name of selected) {
    const scenario = (await SCENARIOS[name]!()).default;
    console.error(`# ${scenario.name}: ${scenario.description}`);
    const rows = await scenario.run({ quick, log: (m) => console.error(`  ${m}`) });
    for (const row of rows) table.push({ scenario: scenario.name, ...row });
    writeFileSync(
      join(resultsDir, `${scenario.name}.json`),
      `${JSON.stringify(
        {
          scenario: scenario.name,
          description: scenario.description,
          quick,
          at: new Date().toISOString(),
          machine: {
            cpus: cpus().length,
            cpu: cpus()[0]?.model,
            memBytes: totalmem(),
            node: process.version,
          },
          rows,
        },
        null,
        2,
      )}\n`,
    );
  }
  printTable(table);
  if (table.some((r) => r.ok === false)) process.exitCode = 1;
}

function printTable(rows: (BenchRow & { scenario: string })[]): void {
  const cells = rows.map((r) => [
    r.scenario,
    r.metric,
    formatValue(r.value),
    r.unit,
    r.target ?? "",
    r.ok === undefined ? "" : r.ok ? "ok" : "MISS",
    r.note ?? "",
  ]);
  const header = ["scenario", "metric", "value", "unit", "target", "", "note"];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i === 2 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const c of cells) console.log(line(c));
}

await main();
