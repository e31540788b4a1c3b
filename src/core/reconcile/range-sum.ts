/**
 * Range sums: an entry count and the sum modulo 2^128 of the entries' 128-bit hashes, the same
 * sum as the state digest (digest.ts) restricted to a key-hash range. They live in flat
 * Int32Arrays, SUM_WIDTH slots per range, so that a million of them cost no objects:
 * `[count, h0, h1, h2, h3]`, h0 the most significant 32 bits, each lane stored as int32 and read
 * back unsigned.
 */
export const SUM_WIDTH = 5;

const TWO_32 = 0x1_0000_0000;

/** Adds `count` and the 128-bit value (a0..a3, any int32/uint32 form) to the sum at `at`. */
export function addToSum(
  t: Int32Array,
  at: number,
  count: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
): void {
  t[at] = t[at]! + count;
  // Each lane sum is exact in a double (< 2^33 + 1); storing it into an Int32Array keeps it
  // modulo 2^32, and the carry is whether it reached 2^32.
  let s = (t[at + 4]! >>> 0) + (a3 >>> 0);
  t[at + 4] = s;
  s = (t[at + 3]! >>> 0) + (a2 >>> 0) + (s >= TWO_32 ? 1 : 0);
  t[at + 3] = s;
  s = (t[at + 2]! >>> 0) + (a1 >>> 0) + (s >= TWO_32 ? 1 : 0);
  t[at + 2] = s;
  s = (t[at + 1]! >>> 0) + (a0 >>> 0) + (s >= TWO_32 ? 1 : 0);
  t[at + 1] = s;
}

/** Adds the sum at `from[fromAt]` to the sum at `t[at]`. */
export function addSum(t: Int32Array, at: number, from: Int32Array, fromAt: number): void {
  addToSum(
    t,
    at,
    from[fromAt]!,
    from[fromAt + 1]!,
    from[fromAt + 2]!,
    from[fromAt + 3]!,
    from[fromAt + 4]!,
  );
}

/**
 * Writes the two's complement of (a0..a3) into `out[0..3]`: adding it subtracts (a0..a3)
 * modulo 2^128.
 */
export function negate128(a0: number, a1: number, a2: number, a3: number, out: Int32Array): void {
  let s = (~a3 >>> 0) + 1;
  out[3] = s;
  s = (~a2 >>> 0) + (s >= TWO_32 ? 1 : 0);
  out[2] = s;
  s = (~a1 >>> 0) + (s >= TWO_32 ? 1 : 0);
  out[1] = s;
  s = (~a0 >>> 0) + (s >= TWO_32 ? 1 : 0);
  out[0] = s;
}

/**
 * Writes (a - b) modulo 2^128 into `out[0..3]`, lanes most significant first: the change to add
 * when an item's hash goes from b to a.
 */
export function difference128(
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  b0: number,
  b1: number,
  b2: number,
  b3: number,
  out: Int32Array,
): void {
  // Each lane difference is exact in a double (> -2^32); storing it into an Int32Array keeps
  // it modulo 2^32, and the borrow is whether it went negative.
  let d = (a3 >>> 0) - (b3 >>> 0);
  out[3] = d;
  d = (a2 >>> 0) - (b2 >>> 0) - (d < 0 ? 1 : 0);
  out[2] = d;
  d = (a1 >>> 0) - (b1 >>> 0) - (d < 0 ? 1 : 0);
  out[1] = d;
  out[0] = (a0 >>> 0) - (b0 >>> 0) - (d < 0 ? 1 : 0);
}

export function clearSums(t: Int32Array, at: number, ranges: number): void {
  t.fill(0, at, at + ranges * SUM_WIDTH);
}

/** The sum's 128-bit value as 32 lowercase hex digits (the state digest's format). */
export function sumHex(t: Int32Array, at: number): string {
  let out = "";
  for (let i = 1; i < SUM_WIDTH; i++) out += (t[at + i]! >>> 0).toString(16).padStart(8, "0");
  return out;
}
