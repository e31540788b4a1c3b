import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SelfPreservation } from "../../src/core/self-preservation.js";

const settings = { threshold: 0.5, windowMs: 10_000, minLeases: 10, maxFreezeMs: 900_000 };

describe("self-preservation", () => {
  test("a trickle of lapses never freezes the lease clock", () => {
    const sp = new SelfPreservation(settings);
    for (let t = 0; t < 60_000; t += 1_000) assert.equal(sp.observeLapses(t, 1, 100), undefined);
    assert.equal(sp.active, false);
    assert.equal(sp.leaseClock(5), 5);
  });

  test("most leases lapsing within one window freezes the clock where it is, not back", () => {
    const sp = new SelfPreservation(settings);
    let change: ReturnType<SelfPreservation["observeLapses"]>;
    let t = 100_000;
    let at = t;
    for (let live = 100; live > 0 && change === undefined; live -= 10, t += 1_000) {
      at = t;
      change = sp.observeLapses(t, 10, live - 10);
    }
    assert.equal(change, "activated");
    assert.equal(sp.active, true);
    assert.equal(sp.leaseClock(t), at, "no jump back: what lookups hid stays hidden");
    assert.equal(sp.leaseClock(t + 50_000), at, "frozen");
  });

  test("small registries are never frozen", () => {
    const sp = new SelfPreservation(settings);
    assert.equal(sp.observeLapses(0, 5, 3), undefined);
  });

  test("the clock thaws once overdue leases fall under half the threshold", () => {
    const sp = new SelfPreservation(settings);
    sp.observeLapses(50_000, 60, 40);
    assert.equal(sp.active, true);
    assert.equal(sp.observeRecovery(51_000, 60, 100), undefined);
    assert.equal(sp.observeRecovery(52_000, 30, 100), undefined);
    assert.equal(sp.observeRecovery(53_000, 24, 100), "deactivated");
    assert.equal(sp.lastThaw, "recovered");
    assert.equal(sp.leaseClock(99), 99);
  });

  test("it thaws when the lapsed set stops growing for a window", () => {
    const sp = new SelfPreservation(settings);
    sp.observeLapses(0, 60, 40);
    assert.equal(sp.observeRecovery(1_000, 70, 100), undefined);
    assert.equal(sp.observeRecovery(5_000, 80, 100), undefined);
    assert.equal(sp.observeRecovery(14_000, 80, 100), undefined);
    assert.equal(sp.observeRecovery(15_000, 80, 100), "deactivated");
    assert.equal(sp.lastThaw, "stable");
  });

  test("a freeze lasts at most maxFreezeMs", () => {
    const sp = new SelfPreservation({ ...settings, maxFreezeMs: 30_000 });
    sp.observeLapses(0, 60, 40);
    let t = 0;
    let overdue = 60;
    let change: ReturnType<SelfPreservation["observeRecovery"]>;
    // The lapsed set keeps growing: only the bound ends the freeze.
    while (change === undefined && t < 60_000) {
      t += 1_000;
      overdue += 1;
      change = sp.observeRecovery(t, overdue, 100);
    }
    assert.equal(change, "deactivated");
    assert.equal(sp.lastThaw, "timeout");
    assert.equal(t, 30_000);
  });

  test("threshold 0 disables it", () => {
    const sp = new SelfPreservation({ ...settings, threshold: 0 });
    assert.equal(sp.observeLapses(0, 1_000, 0), undefined);
  });
});
