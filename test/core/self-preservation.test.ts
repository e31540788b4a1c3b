import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SelfPreservation } from "../../src/core/self-preservation.js";

const settings = { threshold: 0.5, windowMs: 10_000, minLeases: 10 };

describe("self-preservation", () => {
  test("a trickle of lapses never freezes the lease clock", () => {
    const sp = new SelfPreservation(settings);
    for (let t = 0; t < 60_000; t += 1_000) assert.equal(sp.observeLapses(t, 1, 100), undefined);
    assert.equal(sp.active, false);
    assert.equal(sp.leaseClock(5), 5);
  });

  test("most leases lapsing within one window freezes the clock a window back", () => {
    const sp = new SelfPreservation(settings);
    let change: ReturnType<SelfPreservation["observeLapses"]>;
    let t = 100_000;
    for (let live = 100; live > 0 && change === undefined; live -= 10, t += 1_000) {
      change = sp.observeLapses(t, 10, live - 10);
    }
    assert.equal(change, "activated");
    assert.equal(sp.active, true);
    assert.ok(sp.leaseClock(t) < t - 5_000);
    assert.equal(sp.leaseClock(t + 50_000), sp.leaseClock(t), "frozen");
  });

  test("small registries are never frozen", () => {
    const sp = new SelfPreservation(settings);
    assert.equal(sp.observeLapses(0, 5, 3), undefined);
  });

  test("the clock thaws once overdue leases fall under half the threshold", () => {
    const sp = new SelfPreservation(settings);
    sp.observeLapses(50_000, 60, 40);
    assert.equal(sp.active, true);
    assert.equal(sp.observeRecovery(60, 100), undefined);
    assert.equal(sp.observeRecovery(30, 100), undefined);
    assert.equal(sp.observeRecovery(24, 100), "deactivated");
    assert.equal(sp.leaseClock(99), 99);
  });

  test("threshold 0 disables it", () => {
    const sp = new SelfPreservation({ ...settings, threshold: 0 });
    assert.equal(sp.observeLapses(0, 1_000, 0), undefined);
  });
});
