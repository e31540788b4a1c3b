/**
 * The state digest: the sum modulo 2^128 of every entry's 128-bit hash, with the entry count.
 *
 * A sum (not a XOR) so that an entry present twice is not mistaken for an absent one, and
 * because it is updated in O(1) per change: add the new hash, subtract the old. Lanes are
 * uint32, most significant first, matching the big-endian lanes of `Entry`.
 */
export interface HashLanes {
  h0: number;
  h1: number;
  h2: number;
  h3: number;
}

const TWO_32 = 0x1_0000_0000;

export class StateDigest {
  private readonly lanes = new Float64Array(4);
  count = 0;

  add(h: HashLanes): void {
    this.accumulate(h.h0 >>> 0, h.h1 >>> 0, h.h2 >>> 0, h.h3 >>> 0);
    this.count++;
  }

  remove(h: HashLanes): void {
    // x - h == x + (~h + 1) modulo 2^128
    const n3 = (~h.h3 >>> 0) + 1;
    const carry = n3 === TWO_32 ? 1 : 0;
    let n2 = (~h.h2 >>> 0) + carry;
    const c2 = n2 === TWO_32 ? 1 : 0;
    n2 %= TWO_32;
    let n1 = (~h.h1 >>> 0) + c2;
    const c1 = n1 === TWO_32 ? 1 : 0;
    n1 %= TWO_32;
    const n0 = ((~h.h0 >>> 0) + c1) % TWO_32;
    this.accumulate(n0, n1, n2, n3 % TWO_32);
    this.count--;
  }

  /** The digest as 32 lowercase hex digits. */
  hex(): string {
    let out = "";
    for (const lane of this.lanes) out += lane.toString(16).padStart(8, "0");
    return out;
  }

  private accumulate(a0: number, a1: number, a2: number, a3: number): void {
    const l = this.lanes;
    let s = l[3]! + a3;
    l[3] = s % TWO_32;
    s = l[2]! + a2 + (s >= TWO_32 ? 1 : 0);
    l[2] = s % TWO_32;
    s = l[1]! + a1 + (s >= TWO_32 ? 1 : 0);
    l[1] = s % TWO_32;
    s = l[0]! + a0 + (s >= TWO_32 ? 1 : 0);
    l[0] = s % TWO_32;
  }
}

/** The digest of a set of entries computed from scratch; the reference the O(1) one must equal. */
export function digestOf(entries: Iterable<HashLanes>): { hex: string; count: number } {
  const digest = new StateDigest();
  for (const e of entries) digest.add(e);
  return { hex: digest.hex(), count: digest.count };
}
