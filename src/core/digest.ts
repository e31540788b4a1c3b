/**
 * The state digest: the sum modulo 2^128 of every entry's 128-bit hash, with the entry count.
 *
 * A sum (not a XOR) so that an entry present twice is not mistaken for an absent one, and
 * because it is updated in O(1) per change: add the new hash, subtract the old. The store keeps
 * it in one place, as the sum of the reconciliation index's whole key space
 * (`ReconIndex.digest`), so an announced digest and the ranges reconciliation compares are the
 * same arithmetic. Lanes are uint32, most significant first, matching the big-endian lanes of
 * `Entry`.
 */
export interface HashLanes {
  h0: number;
  h1: number;
  h2: number;
  h3: number;
}

const MOD_128 = 1n << 128n;

/**
 * The digest of a set of entries computed from scratch with BigInt arithmetic, independent of
 * the index's int32 lanes: the reference the incremental digest must equal.
 */
export function digestOf(entries: Iterable<HashLanes>): { hex: string; count: number } {
  let sum = 0n;
  let count = 0;
  for (const e of entries) {
    const value =
      (BigInt(e.h0 >>> 0) << 96n) |
      (BigInt(e.h1 >>> 0) << 64n) |
      (BigInt(e.h2 >>> 0) << 32n) |
      BigInt(e.h3 >>> 0);
    sum = (sum + value) % MOD_128;
    count++;
  }
  return { hex: sum.toString(16).padStart(32, "0"), count };
}
