import assert from "node:assert/strict";
import { test } from "node:test";
import { InstanceSchema, RegistryStore } from "../../src/core/mod.js";

const START = 1_764_000_000_000;

test("serviceChangesSince: what changed after a version, deletions and lapses included; undefined past the grace", () => {
  const clock = { now: START };
  const store = new RegistryStore({
    nodeId: "n",
    epoch: "e",
    wallClock: () => clock.now,
    maxClockSkewMs: 30_000,
    tombstoneTtlMs: 60_000,
  });
  const register = (id: string, ttlMs = 30_000) =>
    store.register(InstanceSchema.parse({ service: "web", id, host: "10.0.0.1", port: 80, ttlMs }))
      .entry.hlc;
  register("old");
  register("short", 2_000);
  register("gone");
  clock.now += 1_000;
  const since = store.serviceHighWater("web");
  clock.now += 1_000;
  register("new");
  store.deregister("web", "gone");
  clock.now += 1_500; // "short" lapses
  const diff = store.serviceChangesSince("web", since, clock.now)!;
  assert.deepEqual(
    diff.changed.map((e) => e.id),
    ["new"],
  );
  assert.deepEqual(diff.removed.map((e) => e.id).sort(), ["gone", "short"]);
  clock.now += 120_000;
  assert.equal(store.serviceChangesSince("web", since, clock.now), undefined, "too old: full");
});
