import assert from "node:assert/strict";
import { test } from "node:test";
import scenario from "../../bench/scenarios/reconcile.js";

// The scale benchmark's CI variant (N = 100k): the counts it reports are deterministic, so they
// are checked here; its timings are left to `npm run bench`.
test("the reconciliation benchmark finds every difference within its byte and round-trip bounds", async () => {
  const rows = await scenario.run({ quick: true, log: () => {} });
  const row = (metric: string) => {
    const found = rows.find((r) => r.metric === `${metric} (N=100k)`);
    assert.ok(found, `row ${metric}`);
    return found;
  };
  for (const d of [0, 1, 100, 10_000]) {
    assert.equal(row(`round trips, d=${d}`).note, "every difference found, nothing else");
  }
  const bounded = [
    "round trips, d=1",
    "bytes total, d=1",
    "bytes total, d=100",
    "bytes per difference, d=10,000 vs d=100",
  ];
  for (const metric of bounded) {
    assert.equal(row(metric).ok, true, `${metric}: ${row(metric).value}`);
  }
  assert.ok(row("bytes total, d=100").value < row("full state transfer, bytes").value / 100);
});
