/**
 * What one side of a session does with the ranges it receives, the same for the initiator and
 * the responder: compare a peer's fingerprints with its own, describe its own items in a range
 * that differs (a list when few, finer fingerprints otherwise), and compare a peer's item list
 * with its own items.
 */
import { fingerprintMatches, itemTagWord } from "./fingerprint.js";
import type { SessionParams } from "./params.js";
import { childBitsOf, childOf, KEY_HASH_BITS, type RangeNode } from "./range-node.js";
import { SUM_WIDTH } from "./range-sum.js";
import type { ReconIndex, ReconItem } from "./recon-index.js";
import {
  compareKeyPair,
  type FingerprintsRecord,
  type ItemsRecord,
  type RecordWriter,
} from "./records.js";

/** Keys that differ in one range, as flat int32 pairs (k0, k1). */
export interface RangeDiff {
  /** Keys where this side holds an item (key and version) that the peer does not. */
  has: number[];
  /** Keys where the peer holds an item that this side does not. */
  needs: number[];
}

export class RangeSide<T extends ReconItem> {
  private readonly childSums: Int32Array;
  private readonly words: number;

  constructor(
    readonly index: ReconIndex<T>,
    readonly params: SessionParams,
    readonly salt: number,
  ) {
    this.childSums = new Int32Array((1 << params.branchBits) * SUM_WIDTH);
    this.words = params.fingerprintBytes >>> 2;
  }

  /**
   * Writes this side's description of `node`, a range that differs: its item list when it holds
   * at most itemListMax items there (or the range is one key hash and cannot split), else the
   * fingerprints of the node's children.
   */
  describe(node: RangeNode, out: RecordWriter, count = this.index.countUnder(node)): void {
    if (count <= this.params.itemListMax || node.bits >= KEY_HASH_BITS) {
      out.items(node, this.index.itemsUnder(node), this.params.fingerprintBytes, this.tagWord);
    } else {
      this.split(node, out);
    }
  }

  /** Writes the fingerprints of `node`'s children. */
  split(node: RangeNode, out: RecordWriter): void {
    const childBits = childBitsOf(node, this.params.branchBits);
    const sums = this.childSums;
    this.index.childSums(node, childBits, sums);
    out.fingerprints(node, childBits, sums, this.salt, this.params.fingerprintBytes);
  }

  /** Compares the peer's fingerprints of `node`'s children; describes each child that differs. */
  answerFingerprints(record: FingerprintsRecord, out: RecordWriter): void {
    const { node, fingerprints } = record;
    const childBits = childBitsOf(node, this.params.branchBits);
    const fanout = 2 ** (childBits - node.bits);
    const fpBytes = this.params.fingerprintBytes;
    // childSums is overwritten by describe() below, so keep the counts of the differing children.
    const sums = this.childSums;
    this.index.childSums(node, childBits, sums);
    const differing: number[] = [];
    for (let i = 0; i < fanout; i++) {
      if (!fingerprintMatches(sums, i * SUM_WIDTH, this.salt, fpBytes, fingerprints, i * fpBytes)) {
        differing.push(i, sums[i * SUM_WIDTH]!);
      }
    }
    for (let j = 0; j < differing.length; j += 2) {
      this.describe(childOf(node, childBits, differing[j]!), out, differing[j + 1]!);
    }
  }

  /** Compares the peer's item list with this side's items in the same range. */
  compareItems(record: ItemsRecord): RangeDiff {
    const mine = this.index.itemsUnder(record.node);
    const { keys, tags } = record;
    const theirCount = keys.length / 2;
    const words = this.words;
    const diff: RangeDiff = { has: [], needs: [] };
    const myKey = new Int32Array(2);
    let i = 0; // mine
    let j = 0; // theirs
    while (i < mine.length || j < theirCount) {
      let order: number;
      if (i >= mine.length) order = 1;
      else if (j >= theirCount) order = -1;
      else {
        myKey[0] = mine[i]!.k0;
        myKey[1] = mine[i]!.k1;
        order = compareKeyPair(myKey, 0, keys, j * 2);
      }
      if (order < 0) {
        pushKey(diff.has, mine[i]!.k0, mine[i]!.k1);
        i++;
      } else if (order > 0) {
        pushKey(diff.needs, keys[j * 2]!, keys[j * 2 + 1]!);
        j++;
      } else {
        // The same key hash on both sides (normally one item each): compare the versions' tags.
        const k0 = mine[i]!.k0;
        const k1 = mine[i]!.k1;
        let iEnd = i;
        while (iEnd < mine.length && mine[iEnd]!.k0 === k0 && mine[iEnd]!.k1 === k1) iEnd++;
        let jEnd = j;
        while (jEnd < theirCount && keys[jEnd * 2] === k0 && keys[jEnd * 2 + 1] === k1) jEnd++;
        let mineUnmatched = false;
        for (let a = i; a < iEnd && !mineUnmatched; a++) {
          if (!this.tagAmong(mine[a]!, tags, j, jEnd)) mineUnmatched = true;
        }
        let theirsUnmatched = false;
        for (let b = j; b < jEnd && !theirsUnmatched; b++) {
          let found = false;
          for (let a = i; a < iEnd && !found; a++)
            found = this.tagEquals(mine[a]!, tags, b * words);
          if (!found) theirsUnmatched = true;
        }
        if (mineUnmatched) pushKey(diff.has, k0, k1);
        if (theirsUnmatched) pushKey(diff.needs, k0, k1);
        i = iEnd;
        j = jEnd;
      }
    }
    return diff;
  }

  private tagAmong(item: T, tags: Int32Array, from: number, to: number): boolean {
    for (let b = from; b < to; b++) if (this.tagEquals(item, tags, b * this.words)) return true;
    return false;
  }

  private tagEquals(item: T, tags: Int32Array, at: number): boolean {
    for (let w = 0; w < this.words; w++) {
      if (itemTagWord(this.salt, w, item.h0, item.h1, item.h2, item.h3) !== tags[at + w])
        return false;
    }
    return true;
  }

  readonly tagWord = (item: T, word: number): number =>
    itemTagWord(this.salt, word, item.h0, item.h1, item.h2, item.h3);
}

/** Appends (k0, k1) unless it is already the last pair (keys arrive grouped). */
function pushKey(list: number[], k0: number, k1: number): void {
  const n = list.length;
  if (n >= 2 && list[n - 2] === k0 && list[n - 1] === k1) return;
  list.push(k0, k1);
}
