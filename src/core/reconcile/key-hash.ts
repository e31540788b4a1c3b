/**
 * The 64-bit hash of a key `<service>/<id>` that orders reconciliation items.
 *
 * It only has to spread keys evenly and rarely collide (both sides' versions of one key must sit
 * at the same position, and a collision merely puts two keys in one leaf), so it need not be
 * cryptographic: it is computed on the store's write path, once per new key, and costs well
 * under a tenth of the entry's SHA-256. The service and the id are absorbed in turn, four UTF-16
 * code units per 32-bit block (packed by XOR-shift: exact for the ASCII that names and ids are
 * made of, merely lossy beyond), each followed by its length so the pair is unambiguous, without
 * building the concatenated key. Two lanes run side by side: MurmurHash3's round for the high
 * half and xxHash32's for the low half. Different round functions, not just different seeds, so
 * that Murmur3's known seed-independent collisions do not carry over to the other half: ids
 * crafted to collide on all 64 bits would have to break both at once. (Collisions only cost
 * efficiency, never correctness: colliding keys share a leaf and are told apart by their entry
 * hashes.) The definition is part of the wire protocol: every node must compute the same value.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
/** Seeds of the two lanes: arbitrary, fixed forever. */
const SEED_HIGH = 0x5ca1ab1e;
const SEED_LOW = 0x0ddba11;

/**
 * Receives a key hash as two 32-bit halves, most significant first, stored as int32: V8 keeps
 * int32 object fields inline, while a uint32 above 2^31 would be boxed in a heap number (16 more
 * bytes and a cache miss per read). Read them with `>>> 0` where the unsigned order matters.
 */
export interface KeyHashed {
  k0: number;
  k1: number;
}

// The two lanes while a key is being absorbed (module state: no allocation per key).
let laneHigh = 0;
let laneLow = 0;

/** Hashes the key `<service>/<id>` and stores the result in `target.k0`/`target.k1` (int32). */
export function assignKeyHash(target: KeyHashed, service: string, id: string): void {
  laneHigh = SEED_HIGH;
  laneLow = SEED_LOW;
  absorb(service);
  absorb(id);
  target.k0 = fmix32(laneHigh);
  target.k1 = fmix32(laneLow);
}

function absorb(text: string): void {
  let high = laneHigh;
  let low = laneLow;
  const length = text.length;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    const block =
      text.charCodeAt(i) ^
      (text.charCodeAt(i + 1) << 8) ^
      (text.charCodeAt(i + 2) << 16) ^
      (text.charCodeAt(i + 3) << 24);
    high = murmurRound(high, block);
    low = xxRound(low, block);
  }
  if (i < length) {
    let block = 0;
    for (let shift = 0; i < length; i++, shift += 8) block ^= text.charCodeAt(i) << shift;
    high = murmurRound(high, block);
    low = xxRound(low, block);
  }
  laneHigh = murmurRound(high, length);
  laneLow = xxRound(low, length);
}

function murmurRound(h: number, block: number): number {
  let k = Math.imul(block, C1);
  k = Math.imul((k << 15) | (k >>> 17), C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function xxRound(h: number, block: number): number {
  h = (h + Math.imul(block, P2)) | 0;
  return Math.imul((h << 13) | (h >>> 19), P1);
}

/** MurmurHash3's finaliser: every input bit affects every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * A key hash as one value, for result lists, maps and the wire: `k0 * 2^32 + k1` as a bigint
 * (exact, ordered like the index, and encoded by msgpackr as a uint64).
 */
export type KeyHash = bigint;

export function toKeyHash(k0: number, k1: number): KeyHash {
  return (BigInt(k0 >>> 0) << 32n) | BigInt(k1 >>> 0);
}

/** The high half of a key hash, as int32 (the form `KeyHashed` holds). */
export function keyHashHigh(hash: KeyHash): number {
  return Number((hash >> 32n) & 0xffff_ffffn) | 0;
}

/** The low half of a key hash, as int32. */
export function keyHashLow(hash: KeyHash): number {
  return Number(hash & 0xffff_ffffn) | 0;
}

/** The key hash of `<service>/<id>`, as one value. */
export function keyHashOf(service: string, id: string): KeyHash {
  const out = { k0: 0, k1: 0 };
  assignKeyHash(out, service, id);
  return toKeyHash(out.k0, out.k1);
}

/** Packs key hashes as 8 bytes each, big-endian: the compact form for a fetch request. */
export function packKeyHashes(hashes: readonly KeyHash[]): Uint8Array {
  const out = new Uint8Array(hashes.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < hashes.length; i++) view.setBigUint64(i * 8, hashes[i]!);
  return out;
}

export function unpackKeyHashes(bytes: Uint8Array): KeyHash[] {
  if (bytes.length % 8 !== 0)
    throw new RangeError("packed key hashes must be a multiple of 8 bytes");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: KeyHash[] = [];
  for (let i = 0; i < bytes.length; i += 8) out.push(view.getBigUint64(i));
  return out;
}
