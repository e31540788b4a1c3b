import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Entry, instanceBody, newEntry, packHlc } from "../../src/core/mod.js";
import { LmdbStorage } from "../../src/storage/lmdb-storage.js";

function entry(i: number): Entry {
  const e = newEntry({
    service: "api",
    id: `a${i}`,
    hlc: packHlc(1_700_000_000_000 + i, 0),
    node: "n1",
    body: instanceBody({ host: `h${i}`, port: 80, weight: 100, ttlMs: 30_000 }),
    status: "running",
    ver: "",
    ttlMs: 30_000,
    registeredAt: 1_700_000_000_000,
  });
  e.seq = i + 1;
  return e;
}

/** Commits `sizes` groups back to back under a gauge that always says the CPU is short. */
async function spacedUnderPressure(sizes: number[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "regsync-spacing-"));
  const storage = new LmdbStorage(join(dir, "d"), "n1", { underPressure: () => true });
  try {
    storage.load();
    await storage.initialise("e");
    let next = 0;
    for (const size of sizes) {
      const group = Array.from({ length: size }, () => entry(next++));
      await storage.commit(group, next);
    }
    return storage.stats().spaced;
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("under CPU pressure, transactions are spaced out only while writes keep coming", async () => {
  assert.equal(await spacedUnderPressure([2, 3, 2, 3]), 0, "a trickle is written at once");
  // A group waits out what is left of the spacing, if any: a transaction slower than it (a
  // loaded machine) leaves none, so only "some" is certain.
  assert.ok(
    (await spacedUnderPressure([20, 20, 20, 20, 20])) >= 1,
    "after a full group the next waits",
  );
});
