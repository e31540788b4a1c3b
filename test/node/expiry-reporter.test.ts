import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pino } from "pino";
import {
  type ChangeEvent,
  entryRecord,
  InstanceSchema,
  SelfPreservation,
} from "../../src/core/mod.js";
import { LeaseExpiry } from "../../src/node/lease-expiry.js";
import { NodeMetrics } from "../../src/node/metrics.js";
import type { UnreportedExpiry } from "../../src/storage/storage.js";
import type { HeldVersion, HeldVersions } from "../../src/sync/versions.js";
import { testStore } from "../support/store.js";

/**
 * The reporter of `expired` decided from the versions the fleet holds, one node's LeaseExpiry
 * at a time: the fleet is what `askVersions` answers (the real question is tested over NATS in
 * partition-expiry.test.ts).
 */

const START = 1_764_000_000_000;

/** One node's expiry, its store on a clock the test moves, and a fleet it describes. */
function setup(options: { known: string[]; live?: string[]; saved?: UnreportedExpiry[] }) {
  const clock = { now: START };
  const store = testStore("n1", () => clock.now);
  const published: ChangeEvent[] = [];
  const world = {
    ready: true,
    live: options.live ?? options.known,
    /** What each other node answers per key, by node; a node absent does not answer. */
    answer: new Map<string, (service: string, id: string) => HeldVersion>(),
    saved: options.saved ?? [],
    questions: 0,
  };
  const deps = {
    store,
    preservation: new SelfPreservation({
      threshold: 0,
      windowMs: 60_000,
      minLeases: 1_000,
      maxFreezeMs: 60_000,
    }),
    metrics: new NodeMetrics(),
    log: pino({ level: "silent" }),
    nodeId: "n1",
    wallClock: () => clock.now,
    sweepIntervalMs: 50,
    maxFreezeMs: 60_000,
    ready: () => world.ready,
    commit: async () => {},
    announce: () => {},
    publish: (event: ChangeEvent) => published.push(event),
    livePeers: () => world.live,
    knownPeers: () => options.known,
    askVersions: async (keys: readonly (readonly [string, string])[]) => {
      world.questions++;
      const held: HeldVersions = new Map();
      for (const [node, answer] of world.answer)
        held.set(
          node,
          keys.map(([service, id]) => answer(service, id)),
        );
      return held;
    },
    saveUnreported: async (list: readonly UnreportedExpiry[]) => {
      world.saved = [...list];
    },
    forget: () => {},
  };
  const expiry = (restored?: readonly UnreportedExpiry[]) =>
    new LeaseExpiry({ ...deps, restoredUnreported: restored });
  const lease = (id: string) =>
    store.register(
      InstanceSchema.parse({ service: "api", id, host: "10.0.0.1", port: 80, ttlMs: 1_000 }),
    ).entry;
  /** A peer that holds exactly what this node holds. */
  const mirror = (service: string, id: string): HeldVersion => {
    const entry = store.get(service, id);
    return entry === undefined ? null : [entry.hlc, entry.node];
  };
  /** A lease lapses and this node ends it while `n2` still holds it lapsed; returns the node's
   * expiry that wrote the tombstone. */
  const endedHere = async (id: string) => {
    const lapsed = lease(id);
    const lapsedVersion: HeldVersion = [lapsed.hlc, lapsed.node];
    clock.now += 2_000;
    world.answer.set("n2", () => lapsedVersion);
    const writer = expiry();
    await writer.sweep();
    assert.equal(store.get("api", id)?.body, null, "ended here");
    return writer;
  };
  return { clock, store, published, world, expiry, lease, mirror, endedHere };
}

describe("the reporter of expired", () => {
  test("reports once the fleet holds its tombstone; what it owes survives a restart; nothing before ready", async () => {
    const { published, world, expiry, mirror, endedHere } = setup({ known: ["n2"] });
    const first = await endedHere("a");
    // n2 still holds the lapsed version after the tombstone is written here.
    await first.sweep();
    assert.equal(published.length, 0, "not reported: n2 does not hold the tombstone yet");
    assert.equal(world.saved.length, 1, "the report owed is saved");

    // A restart: the owed report comes back from storage; not reported before the node is ready.
    world.ready = false;
    world.answer.set("n2", mirror);
    const second = expiry(world.saved);
    assert.equal(second.unreportedCount, 1);
    await second.sweep();
    assert.equal(published.length, 0, "a restarting node reports nothing before it is ready");
    world.ready = true;
    await second.sweep();
    await second.sweep();
    assert.deepEqual(
      published.map((e) => [e.type, e.entry.id]),
      [["expired", "a"]],
    );
    assert.deepEqual(world.saved, [], "nothing owed any more");
  });

  test("a tombstone that lost to another version is never reported by its writer", async () => {
    const { store, published, world, mirror, endedHere } = setup({ known: ["n2"] });
    const reporter = await endedHere("b");
    const mine = store.get("api", "b")!;
    // n2 ended it too, later: its tombstone wins everywhere.
    store.merge([{ ...entryRecord(mine), hlc: mine.hlc + 10, node: "n2" }]);
    world.answer.set("n2", mirror);
    await reporter.sweep();
    await reporter.sweep();
    assert.equal(published.length, 0);
    assert.equal(reporter.unreportedCount, 0);
  });

  test("without a majority of the known nodes no lapse is ended, and none reported", async () => {
    const { clock, store, published, world, expiry, lease, mirror } = setup({
      known: ["n2", "n3"],
      live: [],
    });
    lease("c");
    clock.now += 2_000;
    world.answer.set("n2", mirror);
    const minority = expiry();
    await minority.sweep();
    await minority.sweep();
    assert.notEqual(store.get("api", "c")?.body, null, "no tombstone on the minority side");
    assert.equal(world.questions, 0);
    assert.equal(minority.pendingCount, 1, "the lapse waits");
    // The split heals: n2 and n3 are heard again and hold the lapsed lease.
    world.live = ["n2", "n3"];
    world.answer.set("n3", mirror);
    await minority.sweep();
    await minority.sweep();
    assert.deepEqual(
      published.map((e) => [e.type, e.entry.id]),
      [["expired", "c"]],
    );
  });

  test("a node answering another version holds the lapse back: it was ended elsewhere", async () => {
    const { clock, store, published, world, expiry, lease } = setup({ known: ["n2", "n3"] });
    const lapsed = lease("d");
    clock.now += 2_000;
    world.answer.set("n2", () => [lapsed.hlc, lapsed.node]);
    // n3 already holds a tombstone from the other side of a healed split.
    world.answer.set("n3", () => [lapsed.hlc + 5, "n3"]);
    const rejoined = expiry();
    await rejoined.sweep();
    await rejoined.sweep();
    assert.notEqual(store.get("api", "d")?.body, null, "not ended again here");
    assert.equal(published.length, 0);
  });
});
