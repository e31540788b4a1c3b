import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { BootstrapProgress } from "../../src/sync/bootstrap-progress.js";
import type { SyncSettings } from "../../src/sync/sync-engine.js";
import { CountingMetrics, SimFleet } from "../support/sim-fleet.js";

const SETTINGS: SyncSettings = {
  subjectPrefix: "registry",
  syncIntervalMs: 200,
  announceDelayMs: 0,
  inlineChangesMaxBytes: 0,
  pullTimeoutMs: 100,
  retryBaseMs: 10,
  retryMaxMs: 100,
  suspectAfterFailures: 2,
  suspectProbeMs: 1_000_000,
  batchMaxEntries: 3,
  batchMaxBytes: 1 << 20,
  compression: "none",
  maxPeers: 64,
  forgetPeerAfterMs: 60_000,
};

function fleet(extra: Partial<ConstructorParameters<typeof SimFleet>[0]> = {}): SimFleet {
  return new SimFleet({
    seed: 42,
    metrics: new CountingMetrics(),
    settings: SETTINGS,
    maxPayload: 1 << 20,
    dropRate: 0,
    duplicateRate: 0,
    maxDelayMs: 2,
    tombstoneTtlMs: 3_600_000,
    ...extra,
  });
}

const instance = (i: number) => ({
  service: "api",
  id: `i-${i}`,
  host: "10.0.0.1",
  port: 8000 + i,
  status: "running" as const,
  weight: 100,
  ttlMs: 60_000,
});

describe("the sync engine", () => {
  test("a cursor that fails to persist is logged, never an unhandled rejection", async () => {
    let failures = 0;
    const f = fleet({
      saveCursor: () => {
        failures++;
        return Promise.reject(new Error("MDB_MAP_FULL: the disk is full"));
      },
    });
    const a = f.start("a", true);
    f.start("b", true);
    await f.timers.runFor(100);
    for (let i = 0; i < 5; i++) f.register(a, instance(i));
    assert.ok(await f.timers.runUntil(() => f.converged(), 5_000));
    assert.ok(failures > 0, "cursors were saved");
    await f.stopAll();
  });

  test("an empty node bootstraps from one peer, in pages, and reports its progress", async () => {
    const f = fleet();
    const a = f.start("a", false);
    for (let i = 0; i < 10; i++) f.register(a, instance(i));
    const b = f.start("b", false);
    const seen: BootstrapProgress["state"][] = [];
    const sources = new Set<string>();
    b.engine.onBootstrapProgress((p) => {
      seen.push(p.state);
      sources.add(p.peer);
    });
    assert.ok(await f.timers.runUntil(() => f.converged(), 5_000));
    assert.deepEqual([...sources], ["a"], "streamed from one peer");
    assert.equal(seen.at(-1), "complete");
    assert.ok(seen.filter((s) => s === "running").length >= 2, "several pages");
    assert.equal(b.engine.bootstrapping, undefined);
    assert.ok(b.engine.isConverged());
    assert.deepEqual(
      b.engine.livePeers().map((p) => p.id),
      ["a"],
    );
    await f.stopAll();
  });

  test("a peer's writes are visible on arrival while earlier ones commit; the cursor follows the disk", async () => {
    // b's commits wait until the test settles them, in the order they were asked for.
    const commits: { size: number; settle: (ok: boolean) => void }[] = [];
    const f = fleet({
      settings: { ...SETTINGS, inlineChangesMaxBytes: 1 << 20 },
      commit: (node, entries) =>
        node !== "b"
          ? undefined
          : new Promise<void>((resolve, reject) =>
              commits.push({
                size: entries.length,
                settle: (ok) => (ok ? resolve() : reject(new Error("EIO: the disk failed"))),
              }),
            ),
    });
    const a = f.start("a", true);
    const b = f.start("b", true);
    await f.timers.runFor(100);
    const cursor = () => b.engine.peers.get("a")!.cursor;
    const from = cursor();
    const write = async (i: number) => {
      f.register(a, instance(i));
      await f.timers.runFor(10);
    };
    await write(0);
    await write(1);
    await write(2);
    assert.equal(b.store.size, 3, "all three merged while the first still commits");
    assert.deepEqual(
      commits.map((c) => c.size),
      [1, 1, 1],
    );
    assert.equal(cursor(), from, "nothing durable yet");
    commits[1]!.settle(true);
    await f.timers.runFor(1);
    assert.equal(cursor(), from, "the second is durable, the first not yet");
    commits[0]!.settle(true);
    await f.timers.runFor(1);
    assert.equal(cursor(), from + 2);
    // A failed commit stops the cursor; what follows it is pulled again, and then durable.
    await write(3);
    await write(4);
    commits[2]!.settle(true);
    commits[3]!.settle(false);
    commits[4]!.settle(true);
    await f.timers.runFor(1);
    assert.equal(cursor(), from + 3, "not past the failed commit");
    // The pull that follows commits once more, at once.
    let settledCommits = 5;
    for (let i = 0; i < 50 && cursor() < a.store.seq; i++) {
      await f.timers.runFor(20);
      while (settledCommits < commits.length) commits[settledCommits++]!.settle(true);
    }
    assert.equal(cursor(), a.store.seq, f.describe());
    assert.equal(b.store.size, 5);
    await f.stopAll();
  });

  test("a dead peer becomes suspect; a probe retries it once it is back", async () => {
    const f = fleet();
    const a = f.start("a", false);
    const b = f.start("b", false);
    await f.timers.runFor(50);
    for (let i = 0; i < 3; i++) a.store.register(instance(i));
    // The announcement of the writes leaves (and arrives 5 ms later); then `a` freezes.
    a.transport.extraDelayMs = 5;
    a.engine.notifyChange();
    await f.timers.runFor(0);
    a.transport.alive = false;
    await f.timers.runFor(1_000);
    assert.equal(b.engine.peers.get("a")?.state, "suspect", f.describe());
    // Silent for longer than the liveness window: no longer counted when judging convergence.
    assert.deepEqual(b.engine.livePeers(), []);
    assert.equal(b.engine.isConverged(), true);
    a.transport.alive = true;
    b.engine.probeSuspects();
    assert.ok(await f.timers.runUntil(() => b.store.size === 3, 2_000), f.describe());
    await f.stopAll();
  });
});
