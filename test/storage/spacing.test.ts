import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LmdbStorage } from "../../src/storage/lmdb-storage.js";
import { storedEntry } from "../support/stored-entries.js";

/** Commits `sizes` groups back to back under a gauge that always says the CPU is short. */
async function spacedUnderPressure(sizes: number[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "regsync-spacing-"));
  const storage = new LmdbStorage(join(dir, "d"), "n1", { underPressure: () => true });
  try {
    storage.load();
    await storage.initialise("e");
    let next = 0;
    for (const size of sizes) {
      const group = Array.from({ length: size }, () => storedEntry(`a${next}`, ++next));
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
