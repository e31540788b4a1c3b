import assert from "node:assert/strict";
import { test } from "node:test";
import { NodeMetrics } from "../../src/node/metrics.js";
import type { StorageStats } from "../../src/storage/storage.js";

async function scraped(metrics: NodeMetrics): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const metric of await metrics.registry.getMetricsAsJSON())
    if (metric.name.startsWith("regsync_storage_"))
      out.set(metric.name, (metric.values[0]?.value as number | undefined) ?? 0);
  return out;
}

test("the regsync_storage_* counters follow the store's own counts at each scrape", async () => {
  const metrics = new NodeMetrics();
  assert.deepEqual([...(await scraped(metrics)).values()], [0, 0, 0], "a memory node: zeros");
  const stats: StorageStats = { transactions: 2, records: 30, spaced: 0 };
  metrics.followStorage(() => stats);
  assert.deepEqual(
    await scraped(metrics),
    new Map([
      ["regsync_storage_transactions_total", 2],
      ["regsync_storage_records_total", 30],
      ["regsync_storage_spaced_transactions_total", 0],
    ]),
  );
  stats.transactions = 5;
  stats.records = 75;
  stats.spaced = 1;
  const later = await scraped(metrics);
  assert.equal(later.get("regsync_storage_transactions_total"), 5);
  assert.equal(later.get("regsync_storage_records_total"), 75);
  assert.equal(later.get("regsync_storage_spaced_transactions_total"), 1);
});
