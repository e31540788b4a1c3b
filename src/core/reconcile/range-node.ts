/**
 * Ranges of the 64-bit key-hash space that reconciliation compares: the nodes of an implicit trie
 * over key-hash bits. A node is a prefix, `bits` long, of the key hash; it holds every item whose
 * key hash starts with it. The root (bits 0) holds everything, a node of 64 bits one key hash.
 *
 * Because key hashes are uniform, splitting a node into 2^s children of equal width splits its
 * items evenly, so both sides split the same way without sending bounds: a child is named by its
 * parent and its position.
 */
export interface RangeNode {
  /** Length of the prefix in bits, 0..64. */
  bits: number;
  /** The prefix, left-aligned in a 64-bit value as two int32 halves; bits past `bits` are 0. */
  k0: number;
  k1: number;
}

export const KEY_HASH_BITS = 64;

export const ROOT: RangeNode = Object.freeze({ bits: 0, k0: 0, k1: 0 });

/** Whether the key hash (k0, k1) starts with the node's prefix. */
export function nodeHolds(node: RangeNode, k0: number, k1: number): boolean {
  const bits = node.bits;
  if (bits === 0) return true;
  if (bits <= 32) return (k0 ^ node.k0) >>> (32 - bits) === 0;
  if ((k0 ^ node.k0) !== 0) return false;
  return bits === 64 ? ((k1 ^ node.k1) | 0) === 0 : (k1 ^ node.k1) >>> (64 - bits) === 0;
}

/** `n` bits (1..31) of the key hash starting at bit `from` (0 = most significant). */
export function bitsAt(k0: number, k1: number, from: number, n: number): number {
  if (from + n <= 32) return (k0 << from) >>> (32 - n);
  if (from >= 32) return (k1 << (from - 32)) >>> (32 - n);
  const highBits = 32 - from;
  const lowBits = n - highBits;
  return (((k0 << from) >>> (32 - highBits)) << lowBits) | (k1 >>> (32 - lowBits));
}

/** How many bits a child of `node` adds when splitting by `branchBits` (less near the end). */
export function childBitsOf(node: RangeNode, branchBits: number): number {
  return Math.min(KEY_HASH_BITS, node.bits + branchBits);
}

/** The `index`-th of the 2^(childBits - bits) children of `node`. */
export function childOf(node: RangeNode, childBits: number, index: number): RangeNode {
  const step = childBits - node.bits;
  // Place `index` at bit positions [node.bits, childBits) of the 64-bit value.
  const shift = KEY_HASH_BITS - childBits; // bits below the child's prefix
  let k0 = node.k0;
  let k1 = node.k1;
  if (shift >= 32) {
    k0 |= index << (shift - 32);
  } else if (shift + step <= 32) {
    k1 |= index << shift;
  } else {
    // The child's new bits straddle the halves.
    const lowCount = 32 - shift;
    k1 |= (index & ((1 << lowCount) - 1)) << shift;
    k0 |= index >>> lowCount;
  }
  return { bits: childBits, k0, k1 };
}

/** Bytes needed to carry a node's prefix: ceil(bits / 8). */
export function prefixBytes(bits: number): number {
  return (bits + 7) >>> 3;
}

/** Bytes of a key hash that a node's prefix does not already say: 8 - floor(bits / 8). */
export function suffixBytes(bits: number): number {
  return 8 - (bits >>> 3);
}

export function nodeLabel(node: RangeNode): string {
  const hex =
    (node.k0 >>> 0).toString(16).padStart(8, "0") + (node.k1 >>> 0).toString(16).padStart(8, "0");
  return `${hex.slice(0, Math.ceil(node.bits / 4)) || "*"}/${node.bits}`;
}
