import assert from "node:assert/strict";
import { test } from "node:test";
import scenario from "../../bench/scenarios/durable-group.js";

test("the durable-group benchmark prices every way of syncing a group against an LMDB transaction", async () => {
  const rows = await scenario.run({ quick: true, log: () => {} });
  for (const size of [20, 100]) {
    for (const way of [
      "node",
      "LMDB transaction",
      "log, write + fdatasync",
      "log, O_DSYNC write",
    ]) {
      const cpu = rows.find((r) => r.metric === `${size} records a group, ${way}: CPU per group`);
      const wall = rows.find(
        (r) => r.metric === `${size} records a group, ${way}: wall time per group`,
      );
      assert.ok(cpu !== undefined && cpu.value > 0, `${size} ${way}: CPU`);
      assert.ok(wall !== undefined && wall.value > 0, `${size} ${way}: wall time`);
      if (way !== "LMDB transaction") assert.match(cpu.note ?? "", /× an LMDB transaction's$/);
    }
  }
});
