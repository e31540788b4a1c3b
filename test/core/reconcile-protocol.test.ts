import assert from "node:assert/strict";
import { hash } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { pack, unpack } from "msgpackr";
import {
  type InMemoryRun,
  type KeyHash,
  keyHashHigh,
  keyHashLow,
  type MessageCodec,
  minMessageBytes,
  type ReconcileOptions,
  ReconIndex,
  type ReconItem,
  reconcileInMemory,
  type SessionParams,
  SUM_WIDTH,
  sumHex,
} from "../../src/core/reconcile/mod.js";

const RUNS = 300;
/** Bounds each property (shrinking included); a failure still prints its seed. */
const TIME_LIMIT_MS = 60_000;
const bounded = { numRuns: RUNS, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)] };

/** An entry as reconciliation sees it; odd versions are tombstones (items with their own hash). */
class TestItem implements ReconItem {
  h0: number;
  h1: number;
  h2: number;
  h3: number;
  k0 = 0;
  k1 = 0;

  constructor(
    readonly service: string,
    readonly id: string,
    readonly version: number,
    /** Preset key hash halves, to force collisions; absent lets the index compute it. */
    keyHash?: { k0: number; k1: number },
  ) {
    const kind = version % 2 === 1 ? "tombstone" : "instance";
    const digest = hash("sha256", `${service}/${id}\u0000${version}\u0000${kind}`, "buffer");
    this.h0 = digest.readInt32BE(0);
    this.h1 = digest.readInt32BE(4);
    this.h2 = digest.readInt32BE(8);
    this.h3 = digest.readInt32BE(12);
    if (keyHash !== undefined) {
      this.k0 = keyHash.k0;
      this.k1 = keyHash.k1;
    }
  }

  get key(): string {
    return `${this.service}/${this.id}`;
  }
}

/** One replica: key → item, with its index; merging keeps the higher version. */
class Side {
  readonly items = new Map<string, TestItem>();
  readonly index = new ReconIndex<TestItem>();

  put(item: TestItem): void {
    const existing = this.items.get(item.key);
    if (existing !== undefined) this.index.remove(existing);
    this.items.set(item.key, item);
    this.index.add(item);
  }

  merge(item: TestItem): void {
    const existing = this.items.get(item.key);
    if (existing !== undefined && existing.version >= item.version) return;
    this.put(new TestItem(item.service, item.id, item.version, { k0: item.k0, k1: item.k1 }));
  }

  /** Key hash → entries goes through the index, as the node will do it. */
  withKeyHash(key: KeyHash): TestItem[] {
    return this.index.find(keyHashHigh(key), keyHashLow(key));
  }

  rootSum(): string {
    const sum = new Int32Array(SUM_WIDTH);
    this.index.sum({ bits: 0, k0: 0, k1: 0 }, sum);
    return `${sum[0]}:${sumHex(sum, 0)}`;
  }
}

/** Copies the newer item each way for the keys the session found. */
function applyDifferences(a: Side, b: Side, run: InMemoryRun): void {
  for (const key of run.have) for (const item of a.withKeyHash(key)) b.merge(item);
  for (const key of run.need) for (const item of b.withKeyHash(key)) a.merge(item);
}

function sameState(a: Side, b: Side): boolean {
  if (a.items.size !== b.items.size) return false;
  for (const [key, item] of a.items) if (b.items.get(key)?.version !== item.version) return false;
  return true;
}

/** The keys (as strings) where `from` holds a version that `to` does not. */
function expectedOnlyIn(from: Side, to: Side): Set<string> {
  const out = new Set<string>();
  for (const [key, item] of from.items)
    if (to.items.get(key)?.version !== item.version) out.add(key);
  return out;
}

function keysOf(side: Side, hashes: readonly KeyHash[]): Set<string> {
  const out = new Set<string>();
  for (const h of hashes) for (const item of side.withKeyHash(h)) out.add(item.key);
  return out;
}

const msgpack: MessageCodec = { encode: (m) => pack(m), decode: (b) => unpack(b) };

function totalBytes(run: InMemoryRun): number {
  return [...run.queryBytes, ...run.replyBytes].reduce((a, b) => a + b, 0);
}

/** Where each key of a shared pool lives: on one side, on both (same or other version), neither. */
const placement = fc.record({
  a: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  b: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
});

const sessionParams: fc.Arbitrary<SessionParams> = fc
  .record({
    branchBits: fc.integer({ min: 1, max: 6 }),
    fingerprintBytes: fc.constantFrom(4, 8),
    itemListMax: fc.integer({ min: 1, max: 40 }),
    diffExtra: fc.integer({ min: 0, max: 200 }),
  })
  .map(({ diffExtra, ...p }) => ({ ...p, diffMax: p.itemListMax + diffExtra }));

interface World {
  a: Side;
  b: Side;
}

function buildWorld(placements: { a?: number; b?: number }[], collide: boolean): World {
  const a = new Side();
  const b = new Side();
  placements.forEach((p, i) => {
    const service = `svc-${i % 7}`;
    const id = `instance-${i}`;
    // With `collide`, keys share a handful of key hashes: a leaf then holds several keys.
    const keyHash = collide ? { k0: 0x5000_0000 | (i % 5), k1: 1 } : undefined;
    if (p.a !== undefined) a.put(new TestItem(service, id, p.a, keyHash));
    if (p.b !== undefined) b.put(new TestItem(service, id, p.b, keyHash));
  });
  return { a, b };
}

/**
 * Checks a finished session. Every difference must be found; with distinct key hashes nothing
 * else may be, while keys sharing a key hash are found together (results name key hashes).
 */
function checkRun(world: World, run: InMemoryRun, options: ReconcileOptions, exact = true): void {
  const { a, b } = world;
  const aOnly = expectedOnlyIn(a, b);
  const bOnly = expectedOnlyIn(b, a);
  if (exact) {
    assert.deepEqual(keysOf(a, run.have), aOnly, "have");
    assert.deepEqual(keysOf(b, run.need), bOnly, "need");
  } else {
    const have = keysOf(a, run.have);
    const need = keysOf(b, run.need);
    for (const key of aOnly) assert.ok(have.has(key), `have misses ${key}`);
    for (const key of bOnly) assert.ok(need.has(key), `need misses ${key}`);
  }
  // What the responder learnt agrees with the initiator.
  const need = new Set(run.need);
  const have = new Set(run.have);
  for (const key of run.responderHave) assert.ok(need.has(key), "responder's have is a need");
  for (const key of run.responderNeed) assert.ok(have.has(key), "responder's need is a have");
  // Every message fits.
  const max = options.maxMessageBytes!;
  for (const bytes of [...run.queryBytes, ...run.replyBytes])
    assert.ok(bytes <= max, `${bytes} > ${max}`);
  // Applying what was found makes both replicas and their sums equal.
  applyDifferences(a, b, run);
  assert.ok(sameState(a, b), "same state after applying the differences");
  assert.equal(a.rootSum(), b.rootSum());
}

describe("reconciliation", () => {
  it("finds exactly the differing keys, and applying them converges", () => {
    fc.assert(
      fc.property(
        fc.array(placement, { maxLength: 600, size: "max" }),
        sessionParams,
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 3 }),
        (placements, params, salt, budgetSteps) => {
          const world = buildWorld(placements, false);
          // From the smallest budget that always progresses (many rounds) to a roomy one.
          const maxMessageBytes = minMessageBytes(params) * 2 ** budgetSteps;
          const options = { ...params, maxMessageBytes, salt };
          const run = reconcileInMemory(world.a.index, world.b.index, options, msgpack);
          checkRun(world, run, options);
        },
      ),
      bounded,
    );
  });

  it("needs about log_B(N) + 2 round trips when messages have room", () => {
    // With lists of a handful of items or more; listing single items means separating the
    // closest pair of key hashes, about log_B(N^2) deep.
    const listingParams = sessionParams.filter((p) => p.itemListMax >= 8);
    fc.assert(
      fc.property(
        fc.array(placement, { minLength: 1, maxLength: 1_500, size: "max" }),
        listingParams,
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (placements, params, salt) => {
          const world = buildWorld(placements, false);
          const options = { ...params, maxMessageBytes: 1 << 20, salt };
          const n = Math.max(world.a.items.size, world.b.items.size, 2);
          const run = reconcileInMemory(world.a.index, world.b.index, options, msgpack);
          const bound = Math.ceil(Math.log(n) / Math.log(2 ** params.branchBits)) + 2;
          assert.ok(
            run.roundTrips <= bound,
            `${run.roundTrips} round trips for N=${n}, bound ${bound}`,
          );
          checkRun(world, run, options);
        },
      ),
      bounded,
    );
  });

  it("tells keys apart that share a key hash", () => {
    fc.assert(
      fc.property(
        fc.array(placement, { maxLength: 120, size: "max" }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (placements, salt) => {
          const world = buildWorld(placements, true);
          const options = { maxMessageBytes: 1 << 20, salt };
          const run = reconcileInMemory(world.a.index, world.b.index, options, msgpack);
          checkRun(world, run, options, false);
        },
      ),
      bounded,
    );
  });

  describe("edge cases", () => {
    const N = 5_000;
    const options = { maxMessageBytes: 1 << 20, salt: 0x1234_5678 };
    const full = () =>
      buildWorld(
        Array.from({ length: N }, () => ({ a: 2 })),
        false,
      ).a;

    it("settles equal sets in one round trip with tiny messages", () => {
      const a = full();
      const b = full();
      const run = reconcileInMemory(a.index, b.index, options, msgpack);
      assert.equal(run.roundTrips, 1);
      assert.ok(totalBytes(run) < 200, `${totalBytes(run)} bytes`);
      assert.deepEqual([run.have, run.need], [[], []]);
    });

    it("settles two empty sets in one round trip", () => {
      const run = reconcileInMemory(new Side().index, new Side().index, options, msgpack);
      assert.equal(run.roundTrips, 1);
      assert.deepEqual([run.have, run.need], [[], []]);
    });

    it("full initiator, empty responder: one round trip, everything to push", () => {
      const world = { a: full(), b: new Side() };
      const run = reconcileInMemory(world.a.index, world.b.index, { ...options }, msgpack);
      assert.equal(run.roundTrips, 1);
      assert.equal(run.have.length, N);
      checkRun(world, run, options);
    });

    it("empty initiator, full responder: everything to fetch, in bounded messages", () => {
      const world = { a: new Side(), b: full() };
      const small = { ...options, maxMessageBytes: 16 * 1024 };
      const run = reconcileInMemory(world.a.index, world.b.index, small, msgpack);
      assert.equal(run.need.length, N);
      assert.ok(run.roundTrips <= 8, `${run.roundTrips} round trips`);
      checkRun(world, run, small);
    });

    it("finds one conflicting version among many in three round trips and under 2 KB", () => {
      const a = full();
      const b = full();
      const item = [...b.items.values()][1234]!;
      b.put(new TestItem(item.service, item.id, item.version + 1));
      const world = { a, b };
      const run = reconcileInMemory(a.index, b.index, options, msgpack);
      assert.ok(run.roundTrips <= 3);
      assert.ok(totalBytes(run) < 2_048);
      assert.deepEqual([...keysOf(a, run.have)], [item.key]);
      checkRun(world, run, options);
    });
  });
});
