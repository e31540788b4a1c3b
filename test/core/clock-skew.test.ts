import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  entryRecord,
  Hlc,
  hlcWall,
  InstanceSchema,
  RegistryStore,
  RejectedVersions,
} from "../../src/core/mod.js";

const START = 1_764_000_000_000;
const SKEW = 30_000;
const DRIFT = 1_000;

/** A replica whose wall clock reads `offsetMs` off the shared real time `real.now`. */
function replica(nodeId: string, real: { now: number }, offsetMs = 0) {
  const store = new RegistryStore({
    nodeId,
    epoch: "e",
    wallClock: () => real.now + offsetMs,
    maxClockSkewMs: SKEW,
    maxClockDriftMs: DRIFT,
    tombstoneTtlMs: 3_600_000,
  });
  const register = (id: string, extra: Record<string, unknown> = {}) =>
    store.register(
      InstanceSchema.parse({ service: "api", id, host: "10.0.0.1", port: 80, ...extra }),
    );
  const records = () =>
    store.changesSince(0, { maxEntries: 1_000, maxBytes: 1 << 24 }).records.map(entryRecord);
  return { store, register, records };
}

describe("clock skew", () => {
  test("a version beyond the skew bound stays rejected when wall time catches up", () => {
    const real = { now: START };
    const honest = replica("honest", real);
    const fast = replica("fast", real, 60_000);
    fast.register("k", { port: 1 });
    const early = fast.records();
    assert.equal(honest.store.merge(early).rejectedSkew, 1);
    // Ten seconds later an honest node writes the same key.
    real.now += 10_000;
    const other = replica("other", real);
    other.register("k", { port: 2 });
    honest.store.merge(other.records());
    // Forty seconds on, the early write is within the bound by wall time: still refused.
    real.now += 40_000;
    assert.equal(honest.store.merge(early).rejectedSkew, 1);
    const held = honest.store.get("api", "k");
    assert.equal(held?.node, "other", "the honest, later write must survive");
  });

  test("a peer ahead within the bound moves the local clock at most the drift bound", () => {
    const real = { now: START };
    const honest = replica("honest", real);
    const ahead = replica("ahead", real, 20_000);
    ahead.register("a");
    assert.equal(honest.store.merge(ahead.records()).applied.length, 1);
    const clockAhead = hlcWall(honest.store.clock.peek()) - real.now;
    assert.ok(clockAhead <= DRIFT, `local clock moved ${clockAhead} ms ahead`);
    // The local node's own writes on other keys carry honest times...
    const own = honest.register("b").entry;
    assert.ok(hlcWall(own.hlc) - real.now <= DRIFT);
    // ...and a write to the key written from the future still replaces it.
    const deleted = honest.store.deregister("api", "a");
    assert.ok(deleted !== undefined && deleted.entry.hlc > ahead.store.get("api", "a")!.hlc);
    assert.equal(honest.store.lookup({ service: "api" }, real.now).length, 1);
  });

  test("a lease written by a clock ahead lasts at most the drift bound longer", () => {
    const real = { now: START };
    const honest = replica("honest", real);
    const ahead = replica("ahead", real, 20_000);
    ahead.register("a", { ttlMs: 10_000 });
    honest.store.merge(ahead.records());
    real.now += 10_000 + DRIFT + 1;
    assert.equal(honest.store.lookup({ service: "api" }, real.now).length, 0);
    // The sweep goes by whole seconds.
    real.now += 1_000;
    assert.equal(honest.store.sweep(real.now).expired.length, 1);
  });

  test("Hlc.after always follows the version replaced, without moving the clock", () => {
    const hlc = new Hlc(() => START, SKEW, DRIFT);
    const future = (START + 20_000) * 1024;
    const next = hlc.after(future);
    assert.equal(next, future + 1);
    assert.ok(hlcWall(hlc.peek()) <= START);
  });

  test("rejected versions are bounded, oldest forgotten first", () => {
    const rejected = new RejectedVersions(2);
    rejected.add("s", "a", 1, "n");
    rejected.add("s", "b", 1, "n");
    rejected.add("s", "c", 1, "n");
    assert.equal(rejected.size, 2);
    assert.equal(rejected.has("s", "a", 1, "n"), false);
    assert.equal(rejected.has("s", "c", 1, "n"), true);
  });
});
