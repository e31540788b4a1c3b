import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { digestOf } from "../../src/core/digest.js";
import {
  addToSum,
  childBitsOf,
  childOf,
  keyHashHigh,
  keyHashLow,
  keyHashOf,
  nodeHolds,
  packKeyHashes,
  type RangeNode,
  ReconIndex,
  type ReconItem,
  SUM_WIDTH,
  sumHex,
  toKeyHash,
  unpackKeyHashes,
} from "../../src/core/reconcile/mod.js";

const RUNS = 300;
/** Ids range over enough keys for the index to double its buckets a few times. */
const MAX_ID = 1_500;

class Item implements ReconItem {
  k0 = 0;
  k1 = 0;
  constructor(
    readonly service: string,
    readonly id: string,
    public h0: number,
    public h1: number,
    public h2: number,
    public h3: number,
  ) {}
}

const lanes = fc.tuple(fc.integer(), fc.integer(), fc.integer(), fc.integer());

/** Operations on a model map id → item mirrored in the index. */
type Op =
  | { kind: "add"; id: number; h: [number, number, number, number] }
  | { kind: "remove"; id: number }
  | { kind: "rehash"; id: number; h: [number, number, number, number] };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant("add" as const), id: fc.nat(MAX_ID), h: lanes }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("remove" as const), id: fc.nat(MAX_ID) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("rehash" as const), id: fc.nat(MAX_ID), h: lanes }),
  },
);

function apply(ops: Op[], index: ReconIndex<Item>, model: Map<number, Item>): void {
  for (const o of ops) {
    const existing = model.get(o.id);
    if (o.kind === "add" && existing === undefined) {
      const item = new Item("svc", `i-${o.id}`, ...o.h);
      model.set(o.id, item);
      index.add(item);
    } else if (o.kind === "remove" && existing !== undefined) {
      assert.equal(index.remove(existing), true);
      model.delete(o.id);
    } else if (o.kind === "rehash" && existing !== undefined) {
      const previous = { h0: existing.h0, h1: existing.h1, h2: existing.h2, h3: existing.h3 };
      [existing.h0, existing.h1, existing.h2, existing.h3] = o.h;
      if (o.id % 2 === 0) {
        index.rehash(existing, previous);
      } else {
        // The other way the store may do it: take out with the old hash, add with the new.
        const now = { h0: existing.h0, h1: existing.h1, h2: existing.h2, h3: existing.h3 };
        Object.assign(existing, previous);
        index.remove(existing);
        Object.assign(existing, now);
        index.add(existing);
      }
    }
  }
}

function scratchSum(items: Iterable<Item>, node: RangeNode): Int32Array {
  const out = new Int32Array(SUM_WIDTH);
  for (const item of items) {
    if (nodeHolds(node, item.k0, item.k1)) addToSum(out, 0, 1, item.h0, item.h1, item.h2, item.h3);
  }
  return out;
}

/** A node around an item's key hash (or a random one), `bits` long. */
function nodeAt(k0: number, k1: number, bits: number): RangeNode {
  let node: RangeNode = { bits: 0, k0: 0, k1: 0 };
  while (node.bits < bits) {
    const step = Math.min(4, bits - node.bits);
    const childBits = node.bits + step;
    const from = node.bits;
    const index =
      from + step <= 32
        ? (k0 << from) >>> (32 - step)
        : from >= 32
          ? (k1 << (from - 32)) >>> (32 - step)
          : Number((toKeyHash(k0, k1) >> BigInt(64 - childBits)) & BigInt((1 << step) - 1));
    node = childOf(node, childBits, index);
  }
  return node;
}

describe("ReconIndex", () => {
  it("keeps every range sum equal to a sum from scratch under adds, removes and rehashes", () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 2_000, size: "max" }),
        fc.array(fc.tuple(fc.nat(64), fc.integer(), fc.integer(), fc.boolean()), {
          minLength: 1,
          maxLength: 12,
        }),
        (ops, probes) => {
          const index = new ReconIndex<Item>();
          const model = new Map<number, Item>();
          apply(ops, index, model);
          assert.equal(index.size, model.size);
          const items = [...model.values()];
          for (const [bits, r0, r1, nearItem] of probes) {
            const anchor =
              nearItem && items.length > 0 ? items[Math.abs(r0) % items.length]! : undefined;
            const node = nodeAt(anchor?.k0 ?? r0, anchor?.k1 ?? r1, bits);
            const expected = scratchSum(items, node);
            const got = new Int32Array(SUM_WIDTH);
            index.sum(node, got);
            assert.deepEqual(got, expected, `sum of ${bits}-bit node`);
            assert.equal(index.countUnder(node), expected[0]);
            const under = index.itemsUnder(node);
            assert.equal(under.length, expected[0]);
            for (let i = 1; i < under.length; i++) {
              const a = toKeyHash(under[i - 1]!.k0, under[i - 1]!.k1);
              const b = toKeyHash(under[i]!.k0, under[i]!.k1);
              assert.ok(a <= b, "items under a node come in key-hash order");
            }
            if (bits < 64) {
              const childBits = childBitsOf(node, 1 + (Math.abs(r1) % 6));
              const fanout = 2 ** (childBits - bits);
              const children = new Int32Array(fanout * SUM_WIDTH);
              index.childSums(node, childBits, children);
              for (let c = 0; c < fanout; c++) {
                const child = childOf(node, childBits, c);
                assert.deepEqual(
                  children.subarray(c * SUM_WIDTH, (c + 1) * SUM_WIDTH),
                  scratchSum(items, child),
                );
              }
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("sums the whole key space to the state digest, through several growths", () => {
    const index = new ReconIndex<Item>();
    const items: Item[] = [];
    let seed = 7;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      return seed;
    };
    for (let i = 0; i < 20_000; i++) {
      const item = new Item(`svc-${i % 37}`, `id-${i}`, next(), next(), next(), next());
      items.push(item);
      index.add(item);
    }
    assert.ok(index.bucketPrefixBits >= 10, `grew to ${index.bucketPrefixBits} bucket bits`);
    for (let i = 0; i < items.length; i += 3) index.remove(items[i]!);
    const kept = items.filter((_, i) => i % 3 !== 0);
    const root = new Int32Array(SUM_WIDTH);
    index.sum({ bits: 0, k0: 0, k1: 0 }, root);
    const digest = digestOf(kept);
    assert.equal(sumHex(root, 0), digest.hex);
    assert.equal(root[0], digest.count);
    // Every range at every stride level and just past the buckets agrees with a scan.
    for (const bits of [
      1,
      3,
      4,
      7,
      8,
      index.bucketPrefixBits,
      index.bucketPrefixBits + 2,
      40,
      64,
    ]) {
      const probe = kept[bits * 31]!;
      const node = nodeAt(probe.k0, probe.k1, bits);
      const got = new Int32Array(SUM_WIDTH);
      index.sum(node, got);
      assert.deepEqual(got, scratchSum(kept, node), `${bits}-bit node`);
    }
  });

  it("finds items by key hash and tells a held item from one it never held", () => {
    const index = new ReconIndex<Item>();
    const a = new Item("api", "a-1", 1, 2, 3, 4);
    const b = new Item("api", "a-2", 5, 6, 7, 8);
    index.add(a);
    index.add(b);
    const hash = keyHashOf("api", "a-1");
    assert.deepEqual(index.find(keyHashHigh(hash), keyHashLow(hash)), [a]);
    assert.equal(
      index.remove(new Item("api", "a-1", 1, 2, 3, 4)),
      false,
      "another object, same key",
    );
    assert.equal(index.remove(a), true);
    assert.equal(index.remove(a), false);
    assert.deepEqual(index.find(keyHashHigh(hash), keyHashLow(hash)), []);
    assert.equal(index.size, 1);
  });
});

describe("key hash", () => {
  it("is fixed forever: every node must compute the same value", () => {
    assert.equal(keyHashOf("payments", "pay-7f9c:8443").toString(16), KNOWN_HASH);
    assert.notEqual(keyHashOf("ab", "c"), keyHashOf("a", "bc"), "the service/id boundary counts");
    assert.notEqual(keyHashOf("", "x"), keyHashOf("x", ""));
  });

  it("spreads keys evenly over the top bits", () => {
    const buckets = new Array<number>(64).fill(0);
    const n = 64_000;
    for (let i = 0; i < n; i++) buckets[Number(keyHashOf("svc", `instance-${i}`) >> 58n)]!++;
    const mean = n / 64;
    for (const count of buckets)
      assert.ok(Math.abs(count - mean) < 6 * Math.sqrt(mean), `bucket ${count}`);
  });

  it("packs and unpacks key hashes", () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })), (hashes) => {
        assert.deepEqual(unpackKeyHashes(packKeyHashes(hashes)), hashes);
      }),
      { numRuns: RUNS },
    );
  });
});

/** Pinned: a change here changes the wire protocol (bump RECONCILE_PROTOCOL_VERSION). */
const KNOWN_HASH = "10f41c90bd10422d";
