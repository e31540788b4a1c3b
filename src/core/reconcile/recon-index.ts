import type { HashLanes } from "../digest.js";
import { assignKeyHash, type KeyHashed } from "./key-hash.js";
import { bitsAt, nodeHolds, type RangeNode } from "./range-node.js";
import {
  addSum,
  addToSum,
  clearSums,
  difference128,
  negate128,
  SUM_WIDTH,
  sumHex,
} from "./range-sum.js";

/**
 * What the index holds: the store's Entry satisfies it once it has the two key-hash fields.
 * `k0`/`k1` start at 0 and are filled in by the index the first time it sees the item (a real
 * key hash of (0, 0) is merely recomputed each time).
 */
export interface ReconItem extends HashLanes, KeyHashed {
  readonly service: string;
  readonly id: string;
}

/** Buckets are never fewer than 2^MIN_BUCKET_BITS (an empty index stays tiny). */
const MIN_BUCKET_BITS = 4;
/** 2^24 buckets hold a quarter of a billion entries at the growth threshold; far beyond need. */
const MAX_BUCKET_BITS = 24;
/**
 * The index doubles its bucket count when the average bucket holds more than this. Removing an
 * item and reading a range below the stored sums scan buckets, so this bounds their cost; more
 * buckets would cost memory (an array each). 16 keeps the index at 16 to 20 bytes per item
 * (measured at 1M and 100k) besides the key hash on the item.
 */
const MAX_AVERAGE_BUCKET = 16;
/**
 * Sums are kept every LEVEL_STRIDE_BITS bits of prefix, so a write updates about bucketBits / 4
 * sums and the sum of any aligned range is at most 2^(LEVEL_STRIDE_BITS - 1) stored sums away.
 * Reconciliation splits 16 ways (4 bits) by default, so its ranges land on stored levels.
 */
const LEVEL_STRIDE_BITS = 4;
/**
 * The deepest stored level is at least this many bits above the buckets: its sums then cover
 * 4 to 32 buckets each, so the level stays small enough to sit in cache (80 KiB at 1M entries:
 * a write's sum updates hit cache, where bucket-level sums, 1.3 MiB, would miss), while a range
 * below it is summed by scanning at most 32 buckets.
 */
const LEVEL_ABOVE_BUCKETS_BITS = 2;

/** The deepest stored level for a bucket count. */
function deepestLevel(bucketBits: number): number {
  const bits = Math.max(0, bucketBits - LEVEL_ABOVE_BUCKETS_BITS);
  return bits - (bits % LEVEL_STRIDE_BITS);
}

/**
 * The reconciliation index: every entry of the store by key hash, with sums (count and 128-bit
 * hash sum) of every aligned key-hash range, kept up to date on each write, so that the sum of a
 * range costs O(1) to O(bucket) and never a rescan of the store.
 *
 * Layout: 2^bucketBits buckets (unsorted arrays of items, by the key hash's top bits) under an
 * implicit trie of sums: one flat Int32Array per stored level (every 4 bits of prefix, down to
 * a few bits above the buckets), SUM_WIDTH int32 per node. Writes: add O(1) + levels, remove
 * O(bucket) + levels, with levels ≈ bucketBits / 4 (4 at 1M entries). Ranges deeper than the
 * stored levels are summed from their buckets. Growth (doubling the buckets) redistributes every
 * item once: amortised O(1).
 */
export class ReconIndex<T extends ReconItem = ReconItem> {
  private bucketBits = MIN_BUCKET_BITS;
  private buckets: (T[] | undefined)[] = new Array(1 << MIN_BUCKET_BITS);
  /** Sums by prefix length: multiples of LEVEL_STRIDE_BITS up to `deepest`. */
  private levels: Int32Array[] = [];
  private deepest = 0;
  private readonly scratch = new Int32Array(4);
  private readonly probe = new Int32Array(SUM_WIDTH);
  private count = 0;

  constructor() {
    this.deepest = deepestLevel(MIN_BUCKET_BITS);
    for (let level = 0; level <= this.deepest; level += LEVEL_STRIDE_BITS) {
      this.levels[level] = new Int32Array((1 << level) * SUM_WIDTH);
    }
  }

  /** Items held. */
  get size(): number {
    return this.count;
  }

  /**
   * The state digest: the whole key space's sum, which the index keeps anyway, so the store has
   * one sum to update per write and announcements and reconciliation can never disagree.
   */
  digest(): { digest: string; count: number } {
    return { digest: sumHex(this.levels[0]!, 0), count: this.count };
  }

  /** Bits of key-hash prefix that select a bucket (grows with the size). */
  get bucketPrefixBits(): number {
    return this.bucketBits;
  }

  /**
   * Adds an item that the index does not hold (a new key, or one taken out by `remove` before
   * its hash changed; adding a held item twice would count it twice). Computes its key hash the
   * first time. The index never shrinks its buckets: after mass collection it keeps their memory.
   */
  add(item: T): void {
    if (item.k0 === 0 && item.k1 === 0) assignKeyHash(item, item.service, item.id);
    const b = item.k0 >>> (32 - this.bucketBits);
    const bucket = this.buckets[b];
    if (bucket === undefined) this.buckets[b] = [item];
    else bucket.push(item);
    this.addToLevels(item.k0, 1, item.h0, item.h1, item.h2, item.h3);
    this.count++;
    if (this.count > MAX_AVERAGE_BUCKET << this.bucketBits && this.bucketBits < MAX_BUCKET_BITS) {
      this.resize(this.bucketBits + 1);
    }
  }

  /** Takes an item out (collected, or about to change its hash); false if it was not held. */
  remove(item: T): boolean {
    const b = item.k0 >>> (32 - this.bucketBits);
    const bucket = this.buckets[b];
    if (bucket === undefined) return false;
    const at = bucket.indexOf(item);
    if (at < 0) return false;
    const last = bucket.pop()!;
    if (at < bucket.length) bucket[at] = last;
    if (bucket.length === 0) this.buckets[b] = undefined;
    const n = this.scratch;
    negate128(item.h0, item.h1, item.h2, item.h3, n);
    this.addToLevels(item.k0, -1, n[0]!, n[1]!, n[2]!, n[3]!);
    this.count--;
    return true;
  }

  /**
   * Records that a held item's hash changes from `previous` to its current lanes, in one pass:
   * the fast path for a write that replaces a key's entry (`add`/`remove` around it also work).
   */
  rehash(item: T, previous: HashLanes): void {
    const d = this.scratch;
    difference128(
      item.h0,
      item.h1,
      item.h2,
      item.h3,
      previous.h0,
      previous.h1,
      previous.h2,
      previous.h3,
      d,
    );
    this.addToLevels(item.k0, 0, d[0]!, d[1]!, d[2]!, d[3]!);
  }

  /** Items whose key hash is exactly (k0, k1): normally none or one. */
  find(k0: number, k1: number): T[] {
    const out: T[] = [];
    const bucket = this.buckets[k0 >>> (32 - this.bucketBits)];
    if (bucket === undefined) return out;
    const high = k0 | 0;
    const low = k1 | 0;
    for (const item of bucket) if (item.k0 === high && item.k1 === low) out.push(item);
    return out;
  }

  /** Writes the node's sum (count and hash sum) at `out[at]`. */
  sum(node: RangeNode, out: Int32Array, at = 0): void {
    clearSums(out, at, 1);
    if (node.bits <= this.deepest) {
      this.sumFromLevels(node, out, at);
      return;
    }
    this.forEachUnder(node, (item) => addToSum(out, at, 1, item.h0, item.h1, item.h2, item.h3));
  }

  /** Items held under `node`. */
  countUnder(node: RangeNode): number {
    this.sum(node, this.probe);
    return this.probe[0]!;
  }

  /**
   * Writes the sums of the 2^(childBits - node.bits) equal children of `node`, in order, at
   * `out[0]`, `out[SUM_WIDTH]`, … Read from the stored sums when the children are on a stored
   * level or above, else one scan of the buckets under `node`.
   */
  childSums(node: RangeNode, childBits: number, out: Int32Array): void {
    const step = childBits - node.bits;
    const fanout = 1 << step;
    clearSums(out, 0, fanout);
    if (childBits <= this.deepest) {
      const child: RangeNode = { bits: childBits, k0: 0, k1: 0 };
      const base = node.bits === 0 ? 0 : node.k0 >>> (32 - node.bits);
      for (let i = 0; i < fanout; i++) {
        child.k0 = ((base << step) | i) << (32 - childBits);
        this.sumFromLevels(child, out, i * SUM_WIDTH);
      }
      return;
    }
    this.forEachUnder(node, (item) => {
      const i = bitsAt(item.k0, item.k1, node.bits, step);
      addToSum(out, i * SUM_WIDTH, 1, item.h0, item.h1, item.h2, item.h3);
    });
  }

  /** Items under `node`, ordered by key hash (unsigned), ties in no particular order. */
  itemsUnder(node: RangeNode): T[] {
    const out: T[] = [];
    this.forEachUnder(node, (item) => out.push(item));
    return out.sort(compareKeyHash);
  }

  /** Every item, in no particular order. */
  *items(): IterableIterator<T> {
    for (const bucket of this.buckets) if (bucket !== undefined) yield* bucket;
  }

  private forEachUnder(node: RangeNode, visit: (item: T) => void): void {
    const bits = this.bucketBits;
    const first = node.bits === 0 ? 0 : node.k0 >>> (32 - Math.min(node.bits, bits));
    const span = node.bits >= bits ? 1 : 1 << (bits - node.bits);
    const start = node.bits >= bits ? first : first << (bits - node.bits);
    for (let b = start; b < start + span; b++) {
      const bucket = this.buckets[b];
      if (bucket === undefined) continue;
      for (const item of bucket) if (nodeHolds(node, item.k0, item.k1)) visit(item);
    }
  }

  /** Sum of a node no deeper than the deepest level, from the nearest level at or below it. */
  private sumFromLevels(node: RangeNode, out: Int32Array, at: number): void {
    const bits = node.bits;
    const level = Math.ceil(bits / LEVEL_STRIDE_BITS) * LEVEL_STRIDE_BITS;
    const sums = this.levels[level]!;
    const span = level - bits;
    const first = (bits === 0 ? 0 : node.k0 >>> (32 - bits)) << span;
    const last = first + (1 << span);
    for (let i = first; i < last; i++) addSum(out, at, sums, i * SUM_WIDTH);
  }

  private addToLevels(
    k0: number,
    count: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
  ): void {
    const levels = this.levels;
    for (let level = this.deepest; level > 0; level -= LEVEL_STRIDE_BITS) {
      addToSum(levels[level]!, (k0 >>> (32 - level)) * SUM_WIDTH, count, a0, a1, a2, a3);
    }
    addToSum(levels[0]!, 0, count, a0, a1, a2, a3);
  }

  /** Rebuilds the buckets for a new bucket count, and the new deepest level if there is one. */
  private resize(bucketBits: number): void {
    const buckets: (T[] | undefined)[] = new Array(1 << bucketBits);
    const deepest = deepestLevel(bucketBits);
    const fresh = deepest > this.deepest ? new Int32Array((1 << deepest) * SUM_WIDTH) : undefined;
    for (const bucket of this.buckets) {
      if (bucket === undefined) continue;
      for (const item of bucket) {
        const b = item.k0 >>> (32 - bucketBits);
        const target = buckets[b];
        if (target === undefined) buckets[b] = [item];
        else target.push(item);
        if (fresh !== undefined) {
          addToSum(
            fresh,
            (item.k0 >>> (32 - deepest)) * SUM_WIDTH,
            1,
            item.h0,
            item.h1,
            item.h2,
            item.h3,
          );
        }
      }
    }
    if (fresh !== undefined) this.levels[deepest] = fresh;
    this.deepest = deepest;
    this.buckets = buckets;
    this.bucketBits = bucketBits;
  }
}

export function compareKeyHash(a: KeyHashed, b: KeyHashed): number {
  return a.k0 !== b.k0 ? (a.k0 >>> 0) - (b.k0 >>> 0) : (a.k1 >>> 0) - (b.k1 >>> 0);
}
