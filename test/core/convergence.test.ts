/**
 * Replicas that receive the same writes in any order, with duplicates and drops, end identical
 * after a final full exchange; the O(1) digest always equals a from-scratch one; the clock never
 * goes backwards. fast-check prints the seed and path of any failure, so it can be replayed.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type ConflictStrategyName,
  digestOf,
  type EntryRecord,
  entryKey,
  entryRecord,
  Hlc,
  InstanceSchema,
  RegistryStore,
  STATUSES,
} from "../../src/core/mod.js";

const RUNS = Number(process.env.REGSYNC_TEST_PROPERTY_RUNS ?? 1_000);
const START = 1_764_000_000_000;

type Op =
  | { kind: "register"; replica: number; key: number; port: number; version: number; ttl: number }
  | { kind: "heartbeat"; replica: number; key: number; status: number }
  | { kind: "deregister"; replica: number; key: number }
  | { kind: "tick"; replica: number; ms: number }
  | { kind: "sweep"; replica: number }
  | { kind: "deliver"; from: number; to: number; since: number; drop: number };

const op = (replicas: number): fc.Arbitrary<Op> => {
  const replica = fc.nat(replicas - 1);
  const key = fc.nat(7);
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("register" as const),
        replica,
        key,
        port: fc.integer({ min: 1, max: 9 }),
        version: fc.nat(3),
        ttl: fc.constantFrom(1_000, 5_000, 60_000),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("heartbeat" as const),
        replica,
        key,
        status: fc.nat(STATUSES.length - 1),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("deregister" as const), replica, key }) },
    // Wall clocks wander, sometimes backwards.
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("tick" as const),
        replica,
        ms: fc.integer({ min: -500, max: 3_000 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("sweep" as const), replica }) },
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant("deliver" as const),
        from: replica,
        to: replica,
        since: fc.nat(40),
        drop: fc.nat(3),
      }),
    },
  );
};

function makeReplicas(count: number, strategy: ConflictStrategyName) {
  const clocks = Array.from({ length: count }, () => START);
  const stores = clocks.map(
    (_, i) =>
      new RegistryStore({
        nodeId: `r${i}`,
        epoch: `e${i}`,
        wallClock: () => clocks[i]!,
        maxClockSkewMs: 3_600_000,
        // Longer than any simulated run: collection is tested on its own.
        tombstoneTtlMs: 86_400_000,
        conflictResolution: strategy,
      }),
  );
  return { clocks, stores };
}

function apply(op: Op, clocks: number[], stores: RegistryStore[]): void {
  switch (op.kind) {
    case "register":
      stores[op.replica]!.register(
        InstanceSchema.parse({
          service: "svc",
          id: `i${op.key}`,
          host: "h",
          port: op.port,
          version: `1.${op.version}`,
          ttlMs: op.ttl,
        }),
      );
      return;
    case "heartbeat":
      stores[op.replica]!.heartbeat("svc", `i${op.key}`, STATUSES[op.status]);
      return;
    case "deregister":
      stores[op.replica]!.deregister("svc", `i${op.key}`);
      return;
    case "tick":
      clocks[op.replica] = Math.max(START, clocks[op.replica]! + op.ms);
      return;
    case "sweep":
      stores[op.replica]!.sweep(clocks[op.replica]!);
      return;
    case "deliver": {
      if (op.from === op.to) return;
      const page = stores[op.from]!.changesSince(op.since, {
        maxEntries: 1_000,
        maxBytes: 1 << 20,
      });
      // Drop some, deliver the rest in reverse order (a shuffle the merge must not care about).
      const records: EntryRecord[] = page.records
        .map((e) => entryRecord(e))
        .filter((_, i) => op.drop === 0 || i % (op.drop + 1) !== 0);
      stores[op.to]!.merge(records.reverse());
      stores[op.to]!.merge(records); // duplicates
      return;
    }
  }
}

function snapshot(store: RegistryStore): Map<string, EntryRecord> {
  return new Map([...store.entries()].map((e) => [entryKey(e.service, e.id), entryRecord(e)]));
}

for (const strategy of ["lww", "version"] as const) {
  describe(`convergence (${strategy})`, () => {
    test(`replicas converge after any interleaving, with duplicates and drops (${RUNS} cases)`, () => {
      fc.assert(
        fc.property(
          fc
            .integer({ min: 2, max: 5 })
            .chain((n) =>
              fc.tuple(fc.constant(n), fc.array(op(n), { maxLength: 60, size: "medium" })),
            ),
          ([count, ops]) => {
            const { clocks, stores } = makeReplicas(count, strategy);
            for (const o of ops) {
              apply(o, clocks, stores);
              for (const store of stores) {
                assert.equal(
                  store.digest().digest,
                  digestOf(store.entries()).hex,
                  "O(1) digest drifted from a recomputation",
                );
              }
            }
            // Final full exchange: every replica merges every other's state as it stood before
            // the exchange, each in a different order, so an order-dependent merge shows.
            const states = stores.map((s) =>
              s
                .changesSince(0, { maxEntries: 1e6, maxBytes: 1 << 30 })
                .records.map((e) => entryRecord(e)),
            );
            stores.forEach((to, i) => {
              for (let k = 1; k < stores.length; k++) to.merge(states[(i + k) % stores.length]!);
            });
            const reference = snapshot(stores[0]!);
            for (const store of stores.slice(1)) {
              assert.deepEqual(snapshot(store), reference);
              assert.equal(store.digest().digest, stores[0]!.digest().digest);
            }
          },
        ),
        { numRuns: RUNS },
      );
    });
  });
}

describe("hybrid logical clock", () => {
  test(`never goes backwards, whatever the wall clock and the peers do (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ now: fc.integer({ min: -2_000, max: 2_000 }) }),
            fc.record({ receive: fc.integer({ min: -5_000, max: 900 }) }),
          ),
          { maxLength: 200 },
        ),
        (steps) => {
          let wall = START;
          const clock = new Hlc(() => wall, 1_000);
          let last = 0;
          for (const step of steps) {
            if ("now" in step) {
              wall += step.now;
              const ts = clock.now();
              assert.ok(ts > last, "now() must exceed every timestamp issued or received");
              last = ts;
            } else {
              const remote = (wall + step.receive) * 1024;
              clock.receive(remote);
              assert.ok(clock.peek() >= last);
              last = Math.max(last, clock.peek());
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
